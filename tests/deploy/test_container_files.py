"""deploy/Dockerfile and deploy/compose.yaml name only real commands, options, variables and ports
(images cannot be built on the project's machines; these tests keep the files honest instead)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_files import UsageError, check_command, setting_variables, shell_commands

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def _env(arguments: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in re.findall(r"(\w+=\S+)", arguments))


def test_the_dockerfile_runs_a_real_command_as_a_non_root_user_with_real_settings() -> None:
    lines = _dockerfile()
    runtime = lines[max(i for i, (ins, _) in enumerate(lines) if ins == "FROM") :]
    entrypoint = next(json.loads(a) for ins, a in runtime if ins == "ENTRYPOINT")
    command = next(json.loads(a) for ins, a in runtime if ins == "CMD")
    assert entrypoint == ["hubsync"]
    check_command(command)
    env: dict[str, str] = {}
    for ins, arguments in runtime:
        if ins == "ENV":
            env.update(_env(arguments))
    hubsync_env = {k for k in env if k.startswith(("HUBSYNC_", "HUBSPOT_", "KAFKA_", "DATABASE_"))}
    assert hubsync_env <= setting_variables(), hubsync_env - setting_variables()
    user = next(a for ins, a in runtime if ins == "USER")
    assert user.split(":")[0] not in {"root", "0"}
    exposed = {p for ins, a in runtime if ins == "EXPOSE" for p in a.split()}
    assert {env["HUBSYNC_METRICS_PORT"], "8080"} <= exposed
    healthcheck = next(a for ins, a in runtime if ins == "HEALTHCHECK")
    assert f"http://127.0.0.1:{env['HUBSYNC_METRICS_PORT']}/healthz" in healthcheck
    for ins, arguments in lines:
        if ins == "COPY" and "--from" not in arguments:
            for source in arguments.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


@pytest.mark.parametrize("crate", ["avro", "matching"])
def test_the_image_installs_the_compiled_modules_it_builds(crate: str) -> None:
    """Without them the image would run ingest on fastavro and Python alone (docs/decisions.md)."""
    lines = _dockerfile()
    builds = [a for ins, a in lines if ins == "RUN" and "maturin build" in a]
    assert len(builds) == 1 and f"--manifest-path native/{crate}/Cargo.toml --out /wheels" in builds[0]
    assert ("COPY", f"native/{crate} ./native/{crate}") in lines
    assert ("COPY", "--from=native /wheels /wheels") in lines
    name = re.search(r'^name = "(.+)"$', (ROOT / f"native/{crate}/Cargo.toml").read_text(), re.MULTILINE)
    assert name is not None
    installs = [a for ins, a in lines if ins == "RUN" and "/opt/hubsync/bin/pip install" in a]
    assert installs and f"/wheels/{name.group(1).replace('-', '_')}-*.whl" in installs[0]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def _hubsync_services() -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in _compose()["services"].items()
        if str(s.get("image", "")).startswith("hubsync:")
    }


def test_every_compose_service_runs_a_real_command_with_real_settings() -> None:
    services = _hubsync_services()
    assert {"migrate", "worker", "relay", "poller", "webhook", "console"} <= set(services)
    variables = setting_variables()
    for name, service in services.items():
        if service.get("entrypoint") == ["/bin/sh", "-c"]:
            commands = shell_commands(service["command"][0])
            assert commands, name
        else:
            commands = [service["command"]]
        for args in commands:
            check_command(args)
        unknown = set(service["environment"]) - variables
        assert not unknown, f"{name}: not a hubsync setting: {unknown}"


def test_compose_ports_and_prometheus_targets_are_the_ones_served() -> None:
    services = _hubsync_services()
    webhook = services["webhook"]
    port = check_command(webhook["command"]).params["port"]
    assert webhook["ports"] == [f"{port}:{port}"]
    metrics_ports = {s["environment"]["HUBSYNC_METRICS_PORT"] for s in services.values()}
    assert metrics_ports == {"9400"}
    scrape = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert set(jobs) == {f"hubsync-{name}" for name in ("worker", "relay", "poller", "webhook", "console")}
    console = services["console"]
    console_port = check_command(console["command"]).params["port"]
    assert console["ports"] == [f"{console_port}:{console_port}"]
    # the overview reads each component's metrics port, and charts from the compose Prometheus
    for item in console["environment"]["HUBSYNC_CONSOLE_COMPONENTS"].split(","):
        name, _, url = item.partition("=")
        assert name in services and url == f"http://{name}:9400", item
    assert console["environment"]["HUBSYNC_CONSOLE_PROMETHEUS_URL"] == "http://prometheus:9090"
    # least privilege: the console calls neither HubSpot nor Kafka, so it holds no credential of theirs
    assert not {v for v in console["environment"] if v.startswith(("HUBSPOT_", "KAFKA_"))}
    assert "HUBSPOT_ACCESS_TOKEN" in services["worker"]["environment"]
    for job_name, job in jobs.items():
        service = job_name.removeprefix("hubsync-")
        targets = [t for c in job.get("static_configs", []) for t in c["targets"]]
        targets += [f"{n}:{c['port']}" for c in job.get("dns_sd_configs", []) for n in c["names"]]
        assert targets == [f"{service}:9400"], job_name
    mounted = {v.split(":")[0] for v in _compose()["services"]["prometheus"]["volumes"]}
    for source in mounted:
        assert (DEPLOY / source).exists(), source


def test_the_command_checker_refuses_what_hubsync_does_not_have() -> None:
    with pytest.raises(UsageError):
        check_command(["wrker"])
    with pytest.raises(UsageError):
        check_command(["webhook", "--prot", "8080"])
    with pytest.raises(UsageError):
        check_command(["relay", "--batch-size", "0"])
    assert "HUBSYNC_NO_SUCH_SETTING" not in setting_variables()
    assert {"KAFKA_BOOTSTRAP_SERVERS", "HUBSYNC_METRICS_PORT", "HUBSYNC_TOPICS__DLQ"} <= setting_variables()
