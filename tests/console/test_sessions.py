"""Signed session cookies and CSRF tokens: what is accepted, and every way one is refused."""

from __future__ import annotations

import base64
import json

from hubsync.console.sessions import Session, SessionSigner

SIGNER = SessionSigner("a-secret-of-at-least-thirty-two-characters", ttl_s=3600)


def test_a_session_survives_the_round_trip_with_its_portal() -> None:
    session = SIGNER.new_session("ada", "admin", now=1_000).with_portal(42)
    assert SIGNER.loads(SIGNER.dumps(session), now=1_001) == session
    assert session.admin and not Session("v", "viewer", 0, "n").admin


def test_forged_malformed_and_expired_cookies_are_no_session() -> None:
    session = SIGNER.new_session("vic", "viewer", now=1_000)
    cookie = SIGNER.dumps(session)
    body, mac = cookie.split(".")
    # the role raised to admin, signature kept
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["r"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    assert SIGNER.loads(f"{forged}.{mac}", now=1_001) is None
    # another secret's signature
    other = SessionSigner("another-secret-of-thirty-two-characters!", ttl_s=3600)
    assert other.loads(cookie, now=1_001) is None
    # expired
    assert SIGNER.loads(cookie, now=1_000 + 3600) is None
    for junk in (None, "", "x", "a.b.c", "." * 3000, f"{body}.", "!!!.???"):
        assert SIGNER.loads(junk, now=1_001) is None
    # a well-signed body that is not a session
    odd = base64.urlsafe_b64encode(b'{"u": "x"}').rstrip(b"=").decode()
    assert SIGNER.loads(f"{odd}.{SIGNER._mac('session', odd)}", now=1_001) is None
    bad_role = (
        base64.urlsafe_b64encode(b'{"u":"x","r":"root","e":9e12,"n":"n","p":null}').rstrip(b"=").decode()
    )
    assert SIGNER.loads(f"{bad_role}.{SIGNER._mac('session', bad_role)}", now=1_001) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    one = SIGNER.new_session("ada", "admin")
    two = SIGNER.new_session("ada", "admin")
    token = SIGNER.csrf_token(one)
    assert SIGNER.check_csrf(one, token)
    assert not SIGNER.check_csrf(two, token)
    tampered = token[:-1] + ("B" if token[-1] == "A" else "A")
    assert not SIGNER.check_csrf(one, None) and not SIGNER.check_csrf(one, tampered)
    # a session token is not a login token, and the reverse
    assert not SIGNER.check_login_token(one.nonce, token)
    login = SIGNER.login_token("nonce-1")
    assert SIGNER.check_login_token("nonce-1", login)
    assert not SIGNER.check_login_token("nonce-2", login) and not SIGNER.check_login_token(None, login)
