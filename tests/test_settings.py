"""Settings: environment names from the spec, TOML config file, secrets hidden, dev-stack fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubsync.settings import (
    MissingSettingError,
    Settings,
    load_settings,
    redact_url,
    require_database_url,
)
from hubsync.streams.connection import kafka_connection

ENV_VARS = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_WEBHOOK_SECRET",
    "HUBSYNC_CONFIG_FILE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUBSYNC_DEV_DIR", str(tmp_path / "dev"))


def test_reads_the_spec_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db/hubsync")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-abcdef")
    monkeypatch.setenv("HUBSPOT_WEBHOOK_SECRET", "whsec-xyz")
    monkeypatch.setenv("HUBSYNC_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("HUBSYNC_TOPICS__DLQ", "acme.hubsync.dlq")
    s = Settings()
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert require_database_url(s) == "postgresql://app:s3cret@db/hubsync"
    assert s.topic_partitions == 12
    assert s.topics.dlq == "acme.hubsync.dlq"
    assert s.topics.crm_contacts == "crm.contacts"
    shown = repr(s) + str(s) + s.model_dump_json()
    for secret in ("s3cret", "pat-na1-abcdef", "whsec-xyz"):
        assert secret not in shown


def test_config_file_below_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "hubsync.toml"
    config.write_text(
        'kafka_bootstrap_servers = "from-file:9092"\nmetrics_port = 9555\n[topics]\ncrm_accounts = "x.accounts"\n'
    )
    monkeypatch.setenv("HUBSYNC_CONFIG_FILE", str(config))
    s = Settings()
    assert (s.kafka_bootstrap_servers, s.metrics_port, s.topics.crm_accounts) == (
        "from-file:9092",
        9555,
        "x.accounts",
    )
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "from-env:9092")
    assert Settings().kafka_bootstrap_servers == "from-env:9092"


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUBSYNC_CONFIG_FILE", str(tmp_path / "absent.toml"))
    with pytest.raises(FileNotFoundError, match="HUBSYNC_CONFIG_FILE"):
        Settings()


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSYNC_TOPIC_PARTITIONS", "0")
    with pytest.raises(ValueError, match="topic_partitions"):
        Settings()


def test_falls_back_to_the_running_dev_stack(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    assert load_settings().kafka_bootstrap_servers is None
    dev.mkdir()
    (dev / "state.json").write_text(
        json.dumps(
            {
                "kafka_bootstrap_servers": "127.0.0.1:19092",
                "database_url": "postgresql://h@127.0.0.1:54329/hubsync",
            }
        )
    )
    s = load_settings()
    assert kafka_connection(s).bootstrap_servers == "127.0.0.1:19092"
    assert require_database_url(s) == "postgresql://h@127.0.0.1:54329/hubsync"


def test_environment_wins_over_the_dev_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "state.json").write_text(json.dumps({"kafka_bootstrap_servers": "127.0.0.1:19092"}))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "real:9092")
    assert load_settings().kafka_bootstrap_servers == "real:9092"


def test_missing_settings_name_the_variable() -> None:
    with pytest.raises(MissingSettingError, match=r"KAFKA_BOOTSTRAP_SERVERS is not set.*hubsync dev up"):
        kafka_connection(load_settings())
    with pytest.raises(MissingSettingError, match="DATABASE_URL"):
        require_database_url(load_settings())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("https://u:p@registry", "https://u:***@registry"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
