"""Console users who sign in with a password: argon2id hashes in ``hubsync.console_users``.

Passwords are never stored or logged; a failed sign-in costs the same whether the user exists or
not (a dummy hash is verified), so the answer's timing does not tell which names exist.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hubsync.console.config import ROLES, Role
from hubsync.errors import RejectedRequestError

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
#: what a user name may hold (also the table's CHECK, migration 0013)
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class InvalidUserError(RejectedRequestError, ValueError):
    """A user name, password or role the console refuses; says which rule it breaks."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    username: str
    role: Role
    created_at: datetime
    updated_at: datetime


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("not a password of anyone's")


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise InvalidUserError("a user name is 1-64 letters, digits or _ . @ -")
    return username


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidUserError(f"a role is viewer or admin, got {role!r}")
    return role


def hash_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidUserError(f"a password holds {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def save_user(conn: psycopg.Connection[Any], username: str, password: str, role: str) -> ConsoleUser:
    """Add a user or replace an existing one's password and role."""
    name, checked_role, hashed = check_username(username), check_role(role), hash_password(password)
    row = conn.execute(
        "INSERT INTO hubsync.console_users (username, password_hash, role) VALUES (%s, %s, %s)"
        " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
        " role = EXCLUDED.role, updated_at = now() RETURNING username, role, created_at, updated_at",
        (name, hashed, checked_role),
    ).fetchone()
    assert row is not None
    return ConsoleUser(row[0], row[1], row[2], row[3])


def remove_user(conn: psycopg.Connection[Any], username: str) -> bool:
    return conn.execute("DELETE FROM hubsync.console_users WHERE username = %s", (username,)).rowcount > 0


def list_users(conn: psycopg.Connection[Any]) -> list[ConsoleUser]:
    rows = conn.execute(
        "SELECT username, role, created_at, updated_at FROM hubsync.console_users ORDER BY username"
    ).fetchall()
    return [ConsoleUser(r[0], r[1], r[2], r[3]) for r in rows]


def user_role(conn: psycopg.Connection[Any], username: str) -> Role | None:
    """The role of a user who still exists (a removed user's session stops working)."""
    row = conn.execute("SELECT role FROM hubsync.console_users WHERE username = %s", (username,)).fetchone()
    return None if row is None else check_role(str(row[0]))


def authenticate(conn: psycopg.Connection[Any], username: str, password: str) -> Role | None:
    """The user's role when the password is theirs, else None (same work either way)."""
    row = None
    if USERNAME.match(username) and len(password) <= MAX_PASSWORD_CHARS:
        row = conn.execute(
            "SELECT password_hash, role FROM hubsync.console_users WHERE username = %s", (username,)
        ).fetchone()
    if row is None:
        verify_password(_dummy_hash(), password[:MAX_PASSWORD_CHARS])
        return None
    return check_role(str(row[1])) if verify_password(str(row[0]), password) else None
