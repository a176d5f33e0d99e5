"""The security scan's matching: a secret or a ledger value anywhere in a text is found, named by what it is."""

from __future__ import annotations

from bench._fault_env import DATABASE_PASSWORD, TOKEN
from bench._fault_oracle import Expected, Ledger
from bench._fault_scan import _found, personal_data, secrets


def test_a_secret_anywhere_in_a_text_is_found_by_name() -> None:
    text = f"connecting to postgresql://hubsync_app:{DATABASE_PASSWORD}@db/hubsync with Bearer {TOKEN}"
    assert sorted(_found(text, secrets())) == ["the HubSpot access token", "the database password"]
    assert _found("nothing to see", secrets()) == []


def test_personal_data_are_the_ledgers_addresses_and_names() -> None:
    ledger = Ledger([Expected("ann@acme.com", "Ann", "Lee", "hubspot")])
    assert personal_data(ledger) == {"ann@acme.com", "Ann", "Lee"}
