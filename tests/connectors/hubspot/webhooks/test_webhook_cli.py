"""``hubsync webhook`` as a process: configuration errors, serving, clean shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid

import httpx
import pytest
import typer
from typer.testing import CliRunner

from hubsync.cli.webhook import webhook_command
from hubsync.hubspot_model.signatures import HEADER_SIGNATURE_V3, HEADER_TIMESTAMP, sign_v3
from hubsync.storage.migrate import migrate
from hubsync.testing import wait_for
from tests.connectors.hubspot.webhooks.test_webhook_harness import SECRET, event, now_ms
from tests.fixtures.services import fresh_database

# the lead registers the command in hubsync.cli; until then run it through typer directly
LAUNCH = "import typer; from hubsync.cli.webhook import webhook_command; typer.run(webhook_command)"


def test_missing_secret_exits_3(tmp_path: object) -> None:
    app = typer.Typer()
    app.command()(webhook_command)
    env = {"HUBSPOT_WEBHOOK_SECRET": "", "HUBSYNC_DEV_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["--port", "0"], env=env)
    assert result.exit_code == 3
    assert "HUBSPOT_WEBHOOK_SECRET" in result.output


@pytest.mark.integration
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serves_until_interrupted(
    kafka_bootstrap_servers: str, database_url: str, tmp_path: object, stop_signal: signal.Signals
) -> None:
    with fresh_database(database_url) as url:
        migrate(url)
        topic = f"test.cli.{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "HUBSPOT_WEBHOOK_SECRET": SECRET,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "DATABASE_URL": url,
            "HUBSYNC_METRICS_PORT": "0",
            "HUBSYNC_TOPIC_PARTITIONS": "1",
            "HUBSYNC_TOPICS__HUBSPOT_CONTACTS": topic,
            "HUBSYNC_DEV_DIR": str(tmp_path),
        }
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "--port", "0", "--path", "/hooks/hs"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            stderr = process.stderr
            assert stderr is not None

            def serving_line() -> str | None:
                line = stderr.readline()
                assert line or process.poll() is None, "the process ended early"
                return line if "webhook receiver on" in line else None

            line = wait_for(serving_line, timeout=60, interval=0, what="the 'webhook receiver on' line")
            match = re.search(r"(http://\S+/hooks/hs)", line)
            assert match, line
            receiver = match.group(1)
            body = json.dumps([event()]).encode()
            ts = now_ms()
            headers = {
                HEADER_TIMESTAMP: str(ts),
                HEADER_SIGNATURE_V3: sign_v3(SECRET, "POST", receiver, body, ts),
            }
            response = httpx.post(receiver, content=body, headers=headers, timeout=30)
            assert response.status_code == 200, response.text
            assert response.json()["published"] == 1
        finally:
            process.send_signal(stop_signal)
            rest = process.stderr.read() if process.stderr else ""
            assert process.wait(timeout=30) == 0
        assert "webhook receiver stopped" in rest  # drained and closed, not killed
        assert SECRET not in line + rest
