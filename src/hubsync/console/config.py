"""The console's settings, checked once at start: a bad one stops it with a clear error."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from hubsync.errors import ConfigurationError
from hubsync.settings import Settings

AuthMode = Literal["password", "proxy"]
Role = Literal["viewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "admin")

#: a session secret shorter than this is refused (HMAC-SHA256 keys: 32 bytes or more)
MIN_SECRET_CHARS = 32


class ConsoleConfigError(ConfigurationError):
    """A console setting is missing or wrong; names the setting, never a secret's value."""


@dataclass(frozen=True, slots=True)
class Component:
    """A component whose ``/readyz`` and ``/metrics`` the overview reads."""

    name: str
    base_url: str


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    auth: AuthMode
    session_secret: SecretStr
    session_ttl_s: float
    secure_cookies: bool
    proxy_user_header: str
    proxy_admins: frozenset[str]
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    components: tuple[Component, ...]
    prometheus_url: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleConfig:
        if settings.console_auth is None:
            raise ConsoleConfigError(
                "the console is off: set HUBSYNC_CONSOLE_AUTH to password (users of `hubsync console"
                " users`) or proxy (a trusted reverse proxy signs people in); see docs/console.md"
            )
        secret = settings.console_session_secret
        if secret is None or len(secret.get_secret_value()) < MIN_SECRET_CHARS:
            raise ConsoleConfigError(
                f"HUBSYNC_CONSOLE_SESSION_SECRET must hold at least {MIN_SECRET_CHARS} characters"
                " (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return cls(
            auth=settings.console_auth,
            session_secret=secret,
            session_ttl_s=settings.console_session_ttl_s,
            secure_cookies=settings.console_secure_cookies,
            proxy_user_header=settings.console_proxy_user_header,
            proxy_admins=frozenset(_items(settings.console_proxy_admins)),
            trusted_proxies=parse_networks(settings.console_trusted_proxies),
            components=parse_components(settings.console_components),
            prometheus_url=_http_url(settings.console_prometheus_url, "HUBSYNC_CONSOLE_PROMETHEUS_URL"),
        )

    def trusts(self, peer: str | None) -> bool:
        """Whether a request from ``peer`` may name its user in the proxy header."""
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in _items(text))
    except ValueError as exc:
        raise ConsoleConfigError(f"HUBSYNC_CONSOLE_TRUSTED_PROXIES: {exc}") from None


def _http_url(value: str | None, setting: str) -> str | None:
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConsoleConfigError(f"{setting} must be an http(s) URL without a query, got {value!r}")
    return value.strip().rstrip("/")


def parse_components(text: str) -> tuple[Component, ...]:
    """``name=http://host:port,...`` (the port of each component's /readyz and /metrics)."""
    out: list[Component] = []
    for item in _items(text):
        name, sep, url = item.partition("=")
        name = name.strip()
        if not sep or not name.replace("-", "").replace("_", "").isalnum():
            raise ConsoleConfigError(
                f"HUBSYNC_CONSOLE_COMPONENTS takes name=http://host:port items, got {item!r}"
            )
        checked = _http_url(url, "HUBSYNC_CONSOLE_COMPONENTS")
        assert checked is not None
        if any(c.name == name for c in out):
            raise ConsoleConfigError(f"HUBSYNC_CONSOLE_COMPONENTS names {name!r} twice")
        out.append(Component(name, checked))
    return tuple(out)
