"""The command line: every command has --help; db migrate is idempotent; clear config errors."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from hubsync.cli import app
from hubsync.testing import wait_for

runner = CliRunner()


def all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        paths.append(path)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "hubsync")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_console_script_reports_missing_configuration(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HUBSYNC_DEV_DIR": str(tmp_path / "nodev")}
    proc = subprocess.run(
        [sys.executable, "-c", "from hubsync.cli import main; main()", "db", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "DATABASE_URL is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"HUBSYNC_TOPIC_PARTITIONS": "many"}, "invalid setting topic_partitions"),
        (
            {"DATABASE_URL": "postgresql://u:s3cret@h/db", "HUBSYNC_CONFIG_FILE": "/no/such.toml"},
            "not a file",
        ),
    ],
)
def test_console_script_reports_invalid_configuration_without_values(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HUBSYNC_DEV_DIR": str(tmp_path / "nodev"),
        **extra,
    }
    proc = subprocess.run(
        [sys.executable, "-c", "from hubsync.cli import main; main()", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and "many" not in proc.stderr and "s3cret" not in proc.stderr


@pytest.mark.integration
def test_db_migrate_twice_changes_nothing(fresh_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    first = runner.invoke(app, ["db", "migrate", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["changed"] is True and len(report["applied"]) >= 5

    second = runner.invoke(app, ["db", "migrate", "--json"])
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["changed"] is False and again["applied"] == []
    assert (again["settings_inserted"], again["mappings_inserted"]) == (0, 0)

    status = runner.invoke(app, ["db", "status", "--json"])
    assert status.exit_code == 0
    assert all(row["applied"] for row in json.loads(status.stdout))


@pytest.mark.integration
def test_db_migrate_with_a_bad_mappings_file_fails_cleanly(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text(
        '[[field_mappings]]\nobject_type = "contact"\nhubspot_property = "email"\nplatform_field = "email"\nmode = "sometimes"\n'
    )
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("HUBSYNC_FIELD_MAPPINGS_FILE", str(bad))
    result = runner.invoke(app, ["db", "migrate"])
    assert result.exit_code == 1
    assert "m.toml" in result.output and "mode" in result.output


@pytest.mark.integration
def test_topics_create_and_list(kafka_bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    monkeypatch.setenv("HUBSYNC_TOPICS__DLQ", "cli-test.hubsync.dlq")
    created = runner.invoke(app, ["topics", "create", "--json"])
    assert created.exit_code == 0, created.output
    assert (
        "cli-test.hubsync.dlq"
        in json.loads(created.stdout)["created"] + json.loads(created.stdout)["existing"]
    )
    listed = runner.invoke(app, ["topics", "list", "--json"])
    roles = {t["role"]: t for t in json.loads(listed.stdout)}
    assert roles["crm_contacts"]["config"]["cleanup.policy"] == "compact"


@pytest.mark.integration
def test_topics_create_reports_a_raised_retention_and_keeps_it_without_apply(
    kafka_bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    from hubsync.streams.admin import admin_client, describe_topic_configs

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers)
    dlq = f"cli-test.{uuid.uuid4().hex[:8]}.dlq"
    monkeypatch.setenv("HUBSYNC_TOPICS__DLQ", dlq)
    assert runner.invoke(app, ["topics", "create"]).exit_code == 0
    admin = admin_client(kafka_bootstrap_servers)
    year = str(365 * 24 * 3600 * 1000)
    raised = ConfigResource(
        ResourceType.TOPIC,
        dlq,
        incremental_configs=[ConfigEntry("retention.ms", year, incremental_operation=AlterConfigOpType.SET)],
    )
    for future in admin.incremental_alter_configs([raised]).values():
        future.result()
    wait_for(
        lambda: describe_topic_configs(admin, [dlq])[dlq]["retention.ms"] == year, what="the raised retention"
    )

    report = runner.invoke(app, ["topics", "create", "--json"])
    assert report.exit_code == 0, report.output
    drift = [d for d in json.loads(report.stdout)["drift"] if d["topic"] == dlq]
    assert drift == [
        {"topic": dlq, "config": "retention.ms", "value": year, "default": str(30 * 24 * 3600 * 1000)}
    ]
    assert describe_topic_configs(admin, [dlq])[dlq]["retention.ms"] == year  # kept: the operator's choice
    text = runner.invoke(app, ["topics", "create"])
    assert "rerun with --apply" in text.output

    applied = runner.invoke(app, ["topics", "create", "--apply", "--json"])
    assert dlq in json.loads(applied.stdout)["reconfigured"]
    wait_for(
        lambda: describe_topic_configs(admin, [dlq])[dlq]["retention.ms"] == str(30 * 24 * 3600 * 1000),
        what="the default retention back",
    )
