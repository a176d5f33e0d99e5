"""Signed session cookies and CSRF tokens.

A session is a small JSON document (user, role, expiry, a random nonce, the portal chosen) signed
with HMAC-SHA256 under ``HUBSYNC_CONSOLE_SESSION_SECRET``; nothing is kept on the server, so any
number of console replicas share sessions. A cookie whose signature, form or expiry is wrong is no
session at all. Every form carries a CSRF token derived from the session's nonce (the sign-in form,
from a nonce cookie of its own), compared in constant time. Signing out drops the cookie; a removed
password user's session stops at its next request (the role is read again each time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from hubsync.console.config import ROLES, Role

SESSION_COOKIE = "hubsync_console"
LOGIN_COOKIE = "hubsync_console_login"
_MAX_COOKIE_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: Role
    expires_at: float
    nonce: str
    portal: int | None = None

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def with_portal(self, portal: int | None) -> Session:
        return replace(self, portal=portal)


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of a value a browser sent (any text) and one we made (ASCII)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and checks sessions and CSRF tokens with one secret."""

    def __init__(self, secret: str, ttl_s: float) -> None:
        self._key = hashlib.sha256(b"hubsync-console|" + secret.encode()).digest()
        self.ttl_s = ttl_s

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{data}".encode(), hashlib.sha256).digest())

    def new_session(self, user: str, role: Role, *, now: float | None = None) -> Session:
        return Session(user, role, (now or time.time()) + self.ttl_s, secrets.token_urlsafe(18))

    def dumps(self, session: Session) -> str:
        body = _b64(
            json.dumps(
                {
                    "u": session.user,
                    "r": session.role,
                    "e": session.expires_at,
                    "n": session.nonce,
                    "p": session.portal,
                },
                separators=(",", ":"),
            ).encode()
        )
        return f"{body}.{self._mac('session', body)}"

    def loads(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None (absent, forged, malformed or expired)."""
        if not cookie or len(cookie) > _MAX_COOKIE_CHARS or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        if not _same(mac, self._mac("session", body)):
            return None
        try:
            data: Any = json.loads(_unb64(body))
            session = Session(
                str(data["u"]),
                data["r"],
                float(data["e"]),
                str(data["n"]),
                None if data["p"] is None else int(data["p"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.role not in ROLES or session.expires_at <= (now or time.time()):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.nonce)

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return token is not None and _same(token, self.csrf_token(session))

    def login_token(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def check_login_token(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce) and token is not None and _same(token, self.login_token(str(nonce)))
