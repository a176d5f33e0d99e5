"""Tokens at rest: AES-256-GCM, bound to their portal and purpose, keys rotatable."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from hubsync.storage.token_cipher import TokenCipher, TokenKeyError, new_key


def _cipher(*keys: str) -> TokenCipher:
    return TokenCipher.from_setting(SecretStr(",".join(keys)))


def test_round_trip_without_the_token_in_the_ciphertext() -> None:
    cipher = _cipher(new_key("a"))
    blob = cipher.encrypt("CNsecret-access-token", context="portal:1:access")
    assert "CNsecret" not in blob and blob.startswith("v1.a.")
    assert cipher.decrypt(blob, context="portal:1:access") == "CNsecret-access-token"


def test_a_token_moved_to_another_portal_or_purpose_does_not_decrypt() -> None:
    cipher = _cipher(new_key("a"))
    blob = cipher.encrypt("t", context="portal:1:access")
    for context in ("portal:2:access", "portal:1:refresh"):
        with pytest.raises(TokenKeyError, match="altered or moved"):
            cipher.decrypt(blob, context=context)


def test_rotation_old_tokens_decrypt_while_both_keys_are_set_new_ones_use_the_first() -> None:
    old_key, new = new_key("old"), new_key("new")
    blob = _cipher(old_key).encrypt("t", context="c")
    both = _cipher(new, old_key)
    assert both.decrypt(blob, context="c") == "t"
    assert both.key_id_of(both.encrypt("t", context="c")) == "new"
    with pytest.raises(TokenKeyError, match="lacks"):
        _cipher(new).decrypt(blob, context="c")


@pytest.mark.parametrize("value", [None, "", "nokey", "a:short", "a b:" + "A" * 43])
def test_malformed_keys_are_clear_errors(value: str | None) -> None:
    with pytest.raises(TokenKeyError, match="HUBSYNC_TOKEN_KEYS"):
        TokenCipher.from_setting(None if value is None else SecretStr(value))


def test_a_key_id_named_twice_and_a_malformed_ciphertext_are_clear_errors() -> None:
    with pytest.raises(TokenKeyError, match="twice"):
        _cipher(new_key("a"), new_key("a"))
    cipher = _cipher(new_key("a"))
    for blob in ("v1.a.%%%", "garbage"):
        with pytest.raises(TokenKeyError):
            cipher.decrypt(blob, context="c")
    with pytest.raises(TokenKeyError, match="format"):
        cipher.key_id_of("garbage")
