"""``hubsync sandbox`` as a user runs it: a real process, seeded, answering HubSpot's API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx


def test_sandbox_command_serves_seeded_data_until_interrupted() -> None:
    env = {**os.environ, "HUBSYNC_SANDBOX_ACCESS_TOKEN": "pat-cli"}
    proc = subprocess.Popen(
        [
            *(
                sys.executable,
                "-m",
                "hubsync",
                "sandbox",
                "--port",
                "0",
                "--seed",
                "300",
                "--burst-limit",
                "50",
            ),
            *("--oauth-client-id", "cli-app", "--oauth-client-secret", "cli-secret"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"export HUBSPOT_BASE_URL=(http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        with httpx.Client(base_url=match.group(1), timeout=10) as http:
            auth = {"Authorization": "Bearer pat-cli"}
            search = http.post("/crm/v3/objects/contacts/search", json={"limit": 1}, headers=auth)
            assert search.status_code == 200, search.text
            assert search.json()["total"] == 300
            listed = http.get("/crm/v3/objects/companies", headers=auth)
            assert listed.headers["X-HubSpot-RateLimit-Max"] == "50"
            assert len(listed.json()["results"]) == 10
            assert (
                http.get("/crm/v3/objects/companies", headers={"Authorization": "Bearer x"}).status_code
                == 401
            )
            # the public app's OAuth: an install's token reads the same portal
            redirect = http.get(
                "/oauth/authorize", params={"client_id": "cli-app", "redirect_uri": "https://a.example/cb"}
            )
            code = httpx.URL(redirect.headers["location"]).params["code"]
            form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "https://a.example/cb"}
            form |= {"client_id": "cli-app", "client_secret": "cli-secret"}
            token = http.post("/oauth/v1/token", data=form).json()["access_token"]
            oauth = {"Authorization": f"Bearer {token}"}
            assert http.post("/crm/v3/objects/contacts/search", json={}, headers=oauth).json()["total"] == 300
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0, stderr
    assert "300 contacts, 30 companies" in stderr
    assert "Traceback" not in stderr


def test_webhook_url_without_a_secret_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUBSPOT_WEBHOOK_SECRET"}
    proc = subprocess.run(
        [sys.executable, "-m", "hubsync", "sandbox", "--port", "0", "--webhook-url", "http://127.0.0.1:1/x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--webhook-secret" in proc.stderr


def test_an_oauth_client_id_without_its_secret_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSPOT_CLIENT")}
    proc = subprocess.run(
        [sys.executable, "-m", "hubsync", "sandbox", "--port", "0", "--oauth-client-id", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2 and "go together" in proc.stderr
