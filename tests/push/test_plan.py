"""The push agent's decisions (pure): coalescing, settings, linked records, merge/delete rules, conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from hubsync.push.plan import (
    RECORD_ID_PROPERTY,
    Planned,
    PushSettings,
    RecordSnapshot,
    Skipped,
    coalesce,
    plan,
    plan_all,
)

MAPPED = ("email", "firstname", "lastname", "jobtitle")


def change(record_id: int = 7, change_type: str = "UPDATED", **kw: Any) -> dict[str, Any]:
    return {
        "event_id": kw.pop("event_id", f"e-{record_id}-{change_type}"),
        "object_type": kw.pop("object_type", "CONTACT"),
        "record_id": record_id,
        "change_type": change_type,
        "occurred_at": 1_000,
        "hubspot_id": None,
        "changed_fields": kw.pop("fields", {}),
        "field_rules": kw.pop("rules", {}),
        "field_timestamps": kw.pop("timestamps", {}),
        "manual": kw.pop("manual", False),
        "merged_into_id": None,
        "cause_event": None,
    }


def record(hubspot_id: str | None = "501", **kw: Any) -> RecordSnapshot:
    return RecordSnapshot(
        kind="contact",
        record_id=7,
        hubspot_id=hubspot_id,
        crm_status=kw.pop("crm_status", "synced" if hubspot_id else "not_linked"),
        merged_into_id=kw.pop("merged_into_id", None),
        erased=kw.pop("erased", False),
        properties=kw.pop("properties", {"email": "ada@acme.com", "firstname": "Ada", "notes": "x"}),
        versions=kw.pop("versions", {}),
    )


def one(
    values: list[dict[str, Any]], snapshot: RecordSnapshot | None, settings: PushSettings | None = None
) -> Planned | Skipped:
    [pending] = coalesce(values)
    return plan(pending, snapshot, settings or PushSettings(), MAPPED)


def test_coalescing_keeps_the_latest_value_per_field_and_one_write_per_record() -> None:
    changes = coalesce(
        [
            change(fields={"firstname": "A", "jobtitle": "CTO"}),
            change(8, fields={"firstname": "B"}),
            change(fields={"firstname": "Ada"}, manual=True, change_type="ENRICHED"),
        ]
    )
    assert [(c.record_id, dict(c.fields), c.manual, set(c.change_types)) for c in changes] == [
        (7, {"firstname": "Ada", "jobtitle": "CTO"}, True, {"UPDATED", "ENRICHED"}),
        (8, {"firstname": "B"}, False, {"UPDATED"}),
    ]


def test_a_linked_record_is_updated_whatever_the_push_settings() -> None:
    outcome = one(
        [change(fields={"firstname": "Ada"})], record(), PushSettings(enabled=False, scope="manual")
    )
    assert isinstance(outcome, Planned) and outcome.op == "update"
    assert outcome.hubspot_input() == {"id": "501", "properties": {"firstname": "Ada"}}


def test_unmapped_fields_never_sync_but_manual_values_do() -> None:
    outcome = one([change(fields={"notes": "vip", "firstname": "Ada"})], record())
    assert isinstance(outcome, Planned) and dict(outcome.properties) == {"firstname": "Ada"}
    manual = one([change(fields={"notes": "vip"}, rules={"notes": "manual"}, manual=True)], record())
    assert isinstance(manual, Planned) and dict(manual.properties) == {"notes": "vip"}
    assert one([change(fields={"notes": "vip"})], record()) == Skipped("contact", 7, "nothing to push")


@pytest.mark.parametrize(
    ("settings", "manual", "created"),
    [
        (PushSettings(True, "all"), False, True),
        (PushSettings(True, "manual"), False, False),
        (PushSettings(False, "all"), False, False),
        (PushSettings(False, "manual"), True, True),  # a manual push works even with push disabled
        (PushSettings(True, "manual"), True, True),
    ],
)
def test_net_new_records_follow_push_enabled_and_scope(
    settings: PushSettings, manual: bool, created: bool
) -> None:
    values = [
        change(
            change_type="PUSH_REQUESTED" if manual else "CREATED",
            fields={"email": "ada@acme.com"},
            manual=manual,
        )
    ]
    outcome = one(values, record(hubspot_id=None), settings)
    assert isinstance(outcome, Planned) is created
    if isinstance(outcome, Planned):
        assert outcome.op == "create"
        body = outcome.hubspot_input()
        assert body["idProperty"] == RECORD_ID_PROPERTY and body["id"] == "7"
        assert body["properties"] == {"email": "ada@acme.com", "firstname": "Ada", RECORD_ID_PROPERTY: "7"}


def test_a_create_planned_after_a_later_edit_sends_the_record_as_it_is_now() -> None:
    """A CREATED change redelivered after a rebalance, behind an edit of the still-unlinked record,
    must not send the values it was made with (found by the fault suite's group churn)."""
    values = [change(change_type="CREATED", fields={"email": "ada@acme.com", "lastname": "Old"})]
    snapshot = record(hubspot_id=None, properties={"email": "ada@acme.com", "lastname": "New"})
    outcome = one(values, snapshot, PushSettings(enabled=True, scope="all"))
    assert isinstance(outcome, Planned)
    assert outcome.properties == {"email": "ada@acme.com", "lastname": "New", RECORD_ID_PROPERTY: "7"}


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (record(crm_status="merged_in_platform", merged_into_id=3), "merged in the platform"),
        (record(crm_status="deleted_in_crm"), "deleted in HubSpot"),
        (record(crm_status="merged_in_crm"), "merged away in HubSpot"),
        (record(erased=True), "erased"),
        (None, "not found"),
    ],
)
def test_records_that_never_sync_again_are_skipped_even_for_a_manual_push(
    snapshot: RecordSnapshot | None, reason: str
) -> None:
    outcome = one([change(change_type="PUSH_REQUESTED", fields={"firstname": "Ada"}, manual=True)], snapshot)
    assert isinstance(outcome, Skipped) and reason in outcome.reason


def test_platform_deletes_are_not_propagated() -> None:
    outcome = one([change(change_type="DELETED")], record())
    assert isinstance(outcome, Skipped) and "not propagated" in outcome.reason


def test_the_later_change_wins_a_field_hubspot_changed_after_the_platform_edit_is_dropped() -> None:
    snapshot = record(versions={"firstname": 5_000, "jobtitle": 1_000})
    outcome = one(
        [
            change(
                fields={"firstname": "Old", "jobtitle": "CTO"},
                timestamps={"firstname": 4_000, "jobtitle": 2_000},
            )
        ],
        snapshot,
    )
    assert isinstance(outcome, Planned)
    assert dict(outcome.properties) == {"jobtitle": "CTO"} and outcome.dropped == ("firstname",)


def test_a_platform_version_never_blocks_the_platform_edit() -> None:
    snapshot = record(versions={"jobtitle": {"at": 9_000, "rule": "autofill", "over": None}})
    outcome = one(
        [change(fields={"jobtitle": "CTO"}, rules={"jobtitle": "autofill"}, timestamps={"jobtitle": 9_000})],
        snapshot,
    )
    assert isinstance(outcome, Planned) and dict(outcome.properties) == {"jobtitle": "CTO"}


def test_a_manual_push_of_a_linked_record_sends_every_mapped_field() -> None:
    outcome = one([change(change_type="PUSH_REQUESTED", manual=True)], record())
    assert isinstance(outcome, Planned)
    assert dict(outcome.properties) == {"email": "ada@acme.com", "firstname": "Ada"}


def test_plan_all_splits_planned_and_skipped() -> None:
    changes = coalesce([change(fields={"firstname": "A"}), change(9, fields={"firstname": "B"})])
    planned, skipped = plan_all(changes, {("contact", 7): record()}, PushSettings(), {"contact": MAPPED})
    assert [p.record_id for p in planned] == [7]
    assert skipped == [Skipped("contact", 9, "record not found")]
