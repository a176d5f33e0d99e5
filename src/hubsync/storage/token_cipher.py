"""Encryption at rest of the portals' OAuth tokens: AES-256-GCM with rotatable keys.

``HUBSYNC_TOKEN_KEYS`` holds one or more keys, ``<key id>:<32 bytes, base64>`` separated by commas;
the first encrypts, all of them decrypt, so a key is rotated by putting a new one first, running
``hubsync portals rotate-key`` (which re-encrypts every token with it) and then dropping the old
one. A ciphertext names its key (``v1.<key id>.<base64 of nonce + ciphertext>``) and is bound to
its portal and purpose (associated data), so a token copied to another row does not decrypt.
``python -m hubsync.storage.token_cipher`` prints a fresh key.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from hubsync.errors import ConfigurationError

_VERSION = "v1"
_NONCE_BYTES = 12


class TokenKeyError(ConfigurationError, ValueError):
    """``HUBSYNC_TOKEN_KEYS`` is missing or malformed, or a token was encrypted with a key it lacks."""


class TokenCipher:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise TokenKeyError("HUBSYNC_TOKEN_KEYS holds no key")
        if len({key_id for key_id, _ in keys}) != len(keys):
            raise TokenKeyError("HUBSYNC_TOKEN_KEYS names a key id twice")
        self.current_key_id = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}

    @classmethod
    def from_setting(cls, value: SecretStr | None) -> TokenCipher:
        if value is None or not value.get_secret_value().strip():
            raise TokenKeyError(
                "HUBSYNC_TOKEN_KEYS is not set: OAuth tokens are stored encrypted; make a key with "
                "`python -m hubsync.storage.token_cipher`"
            )
        keys: list[tuple[str, bytes]] = []
        for item in value.get_secret_value().split(","):
            key_id, sep, encoded = item.strip().partition(":")
            try:
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                key = b""
            if not sep or not key_id.isalnum() or len(key) != 32:
                raise TokenKeyError(
                    "HUBSYNC_TOKEN_KEYS must be '<key id>:<32 bytes in base64>' items separated by commas "
                    f"(item {len(keys) + 1} is not)"
                )
            keys.append((key_id, key))
        return cls(keys)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}.{self.current_key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, blob: str, *, context: str) -> str:
        version, _, rest = blob.partition(".")
        key_id, _, encoded = rest.partition(".")
        if version != _VERSION or key_id not in self._keys:
            raise TokenKeyError(
                f"a stored token is encrypted with key {key_id!r}, which HUBSYNC_TOKEN_KEYS lacks"
            )
        try:
            data = base64.urlsafe_b64decode(encoded)
        except (binascii.Error, ValueError) as exc:
            raise TokenKeyError("a stored token is not a ciphertext of this format") from exc
        if len(data) <= _NONCE_BYTES:
            raise TokenKeyError("a stored token is not a ciphertext of this format")
        try:
            return (
                self._keys[key_id]
                .decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], context.encode())
                .decode()
            )
        except InvalidTag as exc:
            raise TokenKeyError(
                f"a stored token does not decrypt with key {key_id!r} (altered or moved)"
            ) from exc

    def key_id_of(self, blob: str) -> str:
        parts = blob.split(".", 2)
        if len(parts) != 3:
            raise TokenKeyError("a stored token is not a ciphertext of this format")
        return parts[1]


def new_key(key_id: str = "") -> str:
    """A ``<key id>:<key>`` item for ``HUBSYNC_TOKEN_KEYS``."""
    key_id = key_id or f"k{secrets.token_hex(3)}"
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('=')}"


if __name__ == "__main__":  # pragma: no cover
    print(new_key())
