"""The console is off unless configured, and every bad setting stops it with a clear error."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from hubsync.console.config import ConsoleConfig, ConsoleConfigError, parse_components
from hubsync.settings import Settings

SECRET = SecretStr("x" * 32)


def test_off_unless_a_sign_in_mode_is_set() -> None:
    with pytest.raises(ConsoleConfigError, match="the console is off: set HUBSYNC_CONSOLE_AUTH"):
        ConsoleConfig.from_settings(Settings(console_session_secret=SECRET))


@pytest.mark.parametrize("secret", [None, "short", "y" * 31])
def test_a_short_or_missing_session_secret_is_refused(secret: str | None) -> None:
    settings = Settings(
        console_auth="password", console_session_secret=None if secret is None else SecretStr(secret)
    )
    with pytest.raises(ConsoleConfigError, match="at least 32 characters") as caught:
        ConsoleConfig.from_settings(settings)
    if secret:
        assert secret not in str(caught.value)


def test_proxy_mode_trusts_only_the_proxy_addresses() -> None:
    config = ConsoleConfig.from_settings(
        Settings(
            console_auth="proxy",
            console_session_secret=SECRET,
            console_trusted_proxies="10.0.0.0/8, ::1/128",
            console_proxy_admins="ada, bob",
        )
    )
    assert config.trusts("10.1.2.3") and config.trusts("::1")
    assert not config.trusts("127.0.0.1") and not config.trusts(None) and not config.trusts("not-an-ip")
    assert config.proxy_admins == {"ada", "bob"}


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("console_trusted_proxies", "10.0.0.0/33", "HUBSYNC_CONSOLE_TRUSTED_PROXIES"),
        ("console_components", "worker", "name=http://host:port"),
        ("console_components", "worker=ftp://x:1", "http(s) URL"),
        ("console_components", "a=http://x:1,a=http://y:1", "names 'a' twice"),
        ("console_prometheus_url", "prometheus:9090", "HUBSYNC_CONSOLE_PROMETHEUS_URL"),
        ("console_prometheus_url", "http://p:9090/?x=1", "without a query"),
    ],
)
def test_bad_settings_are_named(setting: str, value: str, message: str) -> None:
    with pytest.raises(ConsoleConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ConsoleConfig.from_settings(
            Settings(console_auth="password", console_session_secret=SECRET, **{setting: value})
        )


def test_header_names_are_checked_by_the_settings_model() -> None:
    with pytest.raises(ValidationError):
        Settings(console_proxy_user_header="X-User\r\nSet-Cookie: a=b")


def test_components_parse_in_order() -> None:
    parsed = parse_components(" worker=http://w:9400/ , relay=https://r:9401")
    assert [(c.name, c.base_url) for c in parsed] == [
        ("worker", "http://w:9400"),
        ("relay", "https://r:9401"),
    ]
    assert parse_components("") == ()
