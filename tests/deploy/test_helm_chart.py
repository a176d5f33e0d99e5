"""deploy/helm/hubsync: ``helm lint --strict``, every rendered manifest valid against Kubernetes'
schemas (kubernetes-validate), and every command, variable, probe and port one hubsync really has."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.deploy_files import check_command, setting_variables, shell_commands

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "hubsync"
VALUES = ["--set", "secrets.databaseUrl=postgresql://h@db/h", "--set", "secrets.hubspotAccessToken=pat-x"]
MONITORING = ["--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"]
#: the Kubernetes version the manifests are validated against
KUBERNETES = "1.33.0"


def _helm() -> str:
    found = shutil.which("helm") or next(
        (
            str(p)
            for p in (Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "helm",)
            if p.exists()
        ),
        None,
    )
    assert found, "Helm is needed: go install helm.sh/helm/v4/cmd/helm@v4.3.2 (.ci/run does)"
    return found


def _run(*args: str) -> str:
    result = subprocess.run([_helm(), *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _render(*extra: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_run("template", "hubsync", str(CHART), *VALUES, *extra)) if d]


def test_helm_lint_strict() -> None:
    _run("lint", "--strict", str(CHART), *VALUES, *MONITORING)


def test_every_manifest_is_valid_kubernetes() -> None:
    documents = _render(*MONITORING)
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "Service", "Secret", "Job", "PodDisruptionBudget"} <= kinds
    for document in documents:
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # Prometheus operator CRDs: checked below
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def _deployments() -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in _render()
        if d["kind"] == "Deployment"
    }


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_commands_variables_probes_and_ports_are_real() -> None:
    deployments = _deployments()
    assert set(deployments) == {"worker", "relay", "poller", "webhook"}
    variables = setting_variables()
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        context = check_command(container["args"])
        assert container["args"][0] == name
        env = _env(container)
        assert set(env) <= variables, set(env) - variables
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert (
            str(ports["metrics"]) == env["HUBSYNC_METRICS_PORT"] and env["HUBSYNC_METRICS_HOST"] == "0.0.0.0"
        )
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        if name == "webhook":
            assert ports["http"] == context.params["port"]
            assert "HUBSPOT_WEBHOOK_SECRET" in env
    assert deployments["relay"]["spec"]["replicas"] == 1 and deployments["poller"]["spec"]["replicas"] == 1
    services = {d["metadata"]["name"]: d for d in _render() if d["kind"] == "Service"}
    assert services["hubsync-webhook"]["spec"]["ports"][0]["targetPort"] == "http"


def test_the_migration_job_runs_before_install_and_upgrade() -> None:
    (job,) = [d for d in _render() if d["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    commands = shell_commands(container["args"][0])
    assert [c[:2] for c in commands] == [["db", "migrate"], ["topics", "create"]]
    for args in commands:
        check_command(args)


def test_the_migration_job_alone_connects_as_the_schema_owner_and_grants_the_runtime_role() -> None:
    rendered = _render(
        "--set",
        "migrations.runtimeRole=hubsync_app",
        "--set",
        "secrets.migrationDatabaseUrlKey=MIGRATION_DATABASE_URL",
        "--set",
        "secrets.migrationDatabaseUrl=postgresql://hubsync_owner:pw@db/platform",
    )
    (job,) = [d for d in rendered if d["kind"] == "Job"]
    env = _env(job["spec"]["template"]["spec"]["containers"][0])
    assert set(env) <= setting_variables()
    assert env["HUBSYNC_DATABASE_RUNTIME_ROLE"] == "hubsync_app"
    assert env["HUBSYNC_MIGRATION_DATABASE_URL"]["secretKeyRef"]["key"] == "MIGRATION_DATABASE_URL"
    (secret,) = [d for d in rendered if d["kind"] == "Secret"]
    assert secret["stringData"]["MIGRATION_DATABASE_URL"].startswith("postgresql://hubsync_owner")
    for deployment in (d for d in rendered if d["kind"] == "Deployment"):
        pod_env = _env(deployment["spec"]["template"]["spec"]["containers"][0])
        assert "HUBSYNC_MIGRATION_DATABASE_URL" not in pod_env  # the processes never get the owner's URL


def test_monitoring_objects_scrape_the_metrics_port_and_carry_the_repositorys_rules() -> None:
    documents = {d["kind"]: d for d in _render(*MONITORING)}
    monitor = documents["ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "hubsync-rules.yml").read_text())
    assert documents["PrometheusRule"]["spec"]["groups"] == rules["groups"]
    assert (CHART / "files" / "hubsync-rules.yml").read_text() == (
        ROOT / "deploy" / "prometheus" / "hubsync-rules.yml"
    ).read_text(), "copy deploy/prometheus/hubsync-rules.yml to the chart's files/"


def test_a_missing_secret_value_is_a_clear_error() -> None:
    result = subprocess.run(
        [_helm(), "template", "hubsync", str(CHART)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0 and "secrets.databaseUrl (or secrets.existingSecret)" in result.stderr
    mine = [
        d for d in _render("--set", "secrets.existingSecret=mine") if d["kind"] in ("Secret", "Deployment")
    ]
    assert "Secret" not in {d["kind"] for d in mine}
    for deployment in mine:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert _env(container)["DATABASE_URL"]["secretKeyRef"]["name"] == "mine"


@pytest.mark.parametrize("component", ["worker", "relay", "poller", "webhook"])
def test_a_component_can_be_turned_off(component: str) -> None:
    rendered = _render("--set", f"{component}.enabled=false")
    assert component not in {
        d["metadata"]["labels"].get("app.kubernetes.io/component")
        for d in rendered
        if d["kind"] == "Deployment"
    }


SECURE = [
    "--set", "kafka.securityProtocol=SASL_SSL",
    "--set", "kafka.sasl.mechanism=SCRAM-SHA-512",
    "--set", "kafka.sasl.username=hubsync",
    "--set", "secrets.kafkaSaslPassword=s3cret",
    "--set", "kafka.tls.secretName=kafka-client-tls",
    "--set", "kafka.tls.clientCertificate=true",
]  # fmt: skip


def test_kafka_security_settings_reach_every_pod_as_real_settings_and_files() -> None:
    documents = _render(*SECURE)
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    (secret,) = [d for d in documents if d["kind"] == "Secret"]
    assert secret["stringData"]["KAFKA_SASL_PASSWORD"] == "s3cret"
    pods = [d["spec"]["template"]["spec"] for d in documents if d["kind"] in ("Deployment", "Job")]
    assert len(pods) == 5
    for pod in pods:
        (container,) = pod["containers"]
        env = _env(container)
        assert set(env) <= setting_variables(), set(env) - setting_variables()
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_PASSWORD"] == {
            "secretKeyRef": {"name": "hubsync-secrets", "key": "KAFKA_SASL_PASSWORD"}
        }
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == "kafka-client-tls"
        directory = mounts["kafka-tls"]["mountPath"]
        assert mounts["kafka-tls"]["readOnly"] is True
        for variable, key in (
            ("KAFKA_SSL_CA_LOCATION", "ca.crt"),
            ("KAFKA_SSL_CERTIFICATE_LOCATION", "tls.crt"),
            ("KAFKA_SSL_KEY_LOCATION", "tls.key"),
        ):
            assert env[variable] == f"{directory}/{key}"


def test_kafka_sasl_without_a_password_is_a_clear_error() -> None:
    result = subprocess.run(
        [_helm(), "template", "hubsync", str(CHART), *VALUES, *SECURE[:6]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0 and "secrets.kafkaSaslPassword" in result.stderr


def test_kubernetes_waits_longer_than_the_grace_period_a_component_drains_in() -> None:
    for deployment in _deployments().values():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        grace = float(_env(container)["HUBSYNC_SHUTDOWN_GRACE_S"])
        assert pod["terminationGracePeriodSeconds"] == grace + 5


PUBLIC_APP = [
    "--set", "hubspot.clientId=app-123",
    "--set", "hubspot.oauthRedirectUri=https://hooks.example.com/oauth/callback",
    "--set", "secrets.hubspotClientSecret=app-secret",
    "--set", "secrets.tokenKeys=k1:AAAA",
]  # fmt: skip


def test_the_public_app_replaces_the_private_token_in_every_pod() -> None:
    documents = [
        d
        for d in yaml.safe_load_all(
            _run(
                "template",
                "hubsync",
                str(CHART),
                "--set",
                "secrets.databaseUrl=postgresql://h@db/h",
                *PUBLIC_APP,
            )
        )
        if d
    ]
    (secret,) = [d for d in documents if d["kind"] == "Secret"]
    assert set(secret["stringData"]) >= {"HUBSPOT_CLIENT_SECRET", "HUBSYNC_TOKEN_KEYS"}
    assert "HUBSPOT_ACCESS_TOKEN" not in secret["stringData"]
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
        if document["kind"] in ("Deployment", "Job"):
            (container,) = document["spec"]["template"]["spec"]["containers"]
            env = _env(container)
            assert set(env) <= setting_variables(), set(env) - setting_variables()
            assert env["HUBSPOT_CLIENT_ID"] == "app-123" and "HUBSPOT_ACCESS_TOKEN" not in env
            assert env["HUBSYNC_TOKEN_KEYS"]["secretKeyRef"]["key"] == "HUBSYNC_TOKEN_KEYS"


CONSOLE = ["--set", "console.enabled=true", "--set", "secrets.consoleSessionSecret=" + "c" * 40]


def test_the_console_is_off_by_default_and_when_on_runs_a_real_command_with_real_settings() -> None:
    assert "console" not in _deployments()
    documents = _render(*CONSOLE)
    for document in documents:
        if not document["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(document, KUBERNETES, strict=True)
    (deployment,) = [
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["labels"]["app.kubernetes.io/component"] == "console"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    context = check_command(container["args"])
    assert container["args"][:2] == ["console", "serve"]
    env = _env(container)
    assert set(env) <= setting_variables(), set(env) - setting_variables()
    assert env["HUBSYNC_CONSOLE_AUTH"] == "password"
    assert env["HUBSYNC_CONSOLE_SESSION_SECRET"]["secretKeyRef"]["key"] == "HUBSYNC_CONSOLE_SESSION_SECRET"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == context.params["port"] and str(ports["metrics"]) == env["HUBSYNC_METRICS_PORT"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    assert services["hubsync-console"]["spec"]["ports"][0]["targetPort"] == "http"
    (secret,) = [d for d in documents if d["kind"] == "Secret"]
    assert secret["stringData"]["HUBSYNC_CONSOLE_SESSION_SECRET"] == "c" * 40


def test_the_console_gets_no_hubspot_or_kafka_credential() -> None:
    """Least privilege: the console reads PostgreSQL, metrics ports and Prometheus only."""
    kafka = ["--set", "kafka.tls.secretName=kafka-tls", "--set", "kafka.tls.clientCertificate=true"]
    kafka += ["--set", "kafka.sasl.mechanism=SCRAM-SHA-512", "--set", "kafka.sasl.username=hubsync"]
    kafka += ["--set", "secrets.kafkaSaslPassword=kafka-secret"]
    for app in ([], PUBLIC_APP):
        documents = _render(*CONSOLE, *kafka, *app)
        pods = {
            d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
            for d in documents
            if d["kind"] == "Deployment"
        }
        for name, pod in pods.items():
            (container,) = pod["containers"]
            env = set(_env(container))
            volumes = {v["name"] for v in pod["volumes"]}
            if name == "console":
                assert not {v for v in env if v.startswith(("HUBSPOT_", "KAFKA_", "HUBSYNC_TOKEN"))}, env
                assert volumes == {"tmp"} and "DATABASE_URL" in env
            else:
                assert {"KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_LOCATION"} <= env and "kafka-tls" in volumes
                assert env & {"HUBSPOT_ACCESS_TOKEN", "HUBSPOT_CLIENT_SECRET"}, name


def test_the_console_behind_a_proxy_names_its_addresses_and_bad_values_are_clear_errors() -> None:
    proxied = _render(
        *CONSOLE,
        "--set",
        "console.auth=proxy",
        "--set",
        "console.proxy.trustedProxies=10.0.0.0/8",
        "--set",
        "console.proxy.admins=ada",
    )
    (container,) = next(
        d
        for d in proxied
        if d["kind"] == "Deployment" and d["metadata"]["labels"]["app.kubernetes.io/component"] == "console"
    )["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    assert (
        env["HUBSYNC_CONSOLE_TRUSTED_PROXIES"] == "10.0.0.0/8"
        and env["HUBSYNC_CONSOLE_PROXY_ADMINS"] == "ada"
    )
    for extra, message in (
        (["--set", "console.enabled=true"], "secrets.consoleSessionSecret (with console.enabled"),
        ([*CONSOLE, "--set", "console.auth=proxy"], "console.proxy.trustedProxies"),
        ([*CONSOLE, "--set", "console.auth=sso"], "console.auth is password or proxy"),
    ):
        result = subprocess.run(
            [_helm(), "template", "hubsync", str(CHART), *VALUES, *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode != 0 and message in result.stderr, extra
