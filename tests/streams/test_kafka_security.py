"""hubsync's components on an Apache Kafka broker secured as production clusters are: SASL_SSL
(SCRAM-SHA-512, PLAIN) and SSL with client certificates, the StandardAuthorizer on, no ACL meaning
no access. Each component's principal is granted exactly the rows ``docs/deploy.md`` lists for it
(read from the page), and must do its work with them; a wrong password, a missing client
certificate or a missing ACL must end the command quickly with exit code 3 and a message that
names the problem, never a hang and never the password.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import psycopg
import pytest
from bench._change_events import contact_snapshot_events
from confluent_kafka.admin import (
    AclBinding,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from pydantic import SecretStr

from hubsync.platform import create_record
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import SeedSpec, ThreadedSandbox
from hubsync.settings import Settings, TopicNames
from hubsync.streams.access import COMPONENTS, Operation, component_grants
from hubsync.streams.topics import consumer_groups
from hubsync.testing.secure_kafka import SecureKafkaServer
from tests.connectors.hubspot.client_support import TOKEN
from tests.ingest.worker_harness import (
    _INHERITED_NAMES,
    _INHERITED_PREFIXES,
    WorkerProcess,
    WorkerSetup,
    _hubsync_command,
    change_event_codec,
    contact_count,
    end_offsets,
    prepare_worker,
    produce,
    scalar,
)
from tests.test_runner import RunProcess, run_args, sandbox_for_run

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DOCS = ROOT / "docs" / "deploy.md"
PASSWORDS = {
    "hubsync-run": "run-Secret-1",
    "hubsync-worker": "worker-Secret-2",
    "hubsync-topics": "topics-Secret-3",
    "hubsync-status": "status-Secret-4",
}
PLAIN_PASSWORDS = {"hubsync-poller": "poller-Secret-5"}

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


# --- the ACL table of docs/deploy.md ------------------------------------------------------------

_ROW = re.compile(r"^\| (\w+) \| (Topic|Group|Cluster) \| `([^`]+)` \| ([A-Za-z, ]+) \|$")


def documented_acls(component: str, settings: Settings) -> list[tuple[str, str, tuple[str, ...]]]:
    """(resource, name, operations) rows docs/deploy.md lists for ``component``, with the default
    topic and group names it prints renamed as ``settings`` names them."""
    defaults = TopicNames()
    renamed = {getattr(defaults, role): getattr(settings.topics, role) for role in TopicNames.model_fields}
    groups = consumer_groups(settings)
    renamed |= {
        "hubsync.ingest": groups.agents,
        "hubsync.ingest.changes": groups.changes,
        "hubsync.ingest.backfill": groups.backfill,
    }
    rows = []
    for line in DEPLOY_DOCS.read_text().splitlines():
        match = _ROW.match(line)
        if match and match.group(1) == component:
            operations = tuple(op.strip() for op in match.group(4).split(","))
            rows.append((match.group(2), renamed.get(match.group(3), match.group(3)), operations))
    assert rows, f"docs/deploy.md lists no ACL for {component}"
    return rows


def test_the_documented_acls_are_the_ones_the_components_check() -> None:
    settings = Settings()
    for component in COMPONENTS:
        checked = [
            (g.resource.value, g.name, tuple(op.value for op in g.operations))
            for g in component_grants(component, settings)
        ]
        assert documented_acls(component, settings) == checked, component


# --- the broker and its principals --------------------------------------------------------------


@pytest.fixture(scope="module")
def secure_kafka() -> Iterator[SecureKafkaServer]:
    with SecureKafkaServer(scram_users=PASSWORDS, plain_users=PLAIN_PASSWORDS) as kafka:
        yield kafka


def grant(kafka: SecureKafkaServer, principal: str, *components: str, settings: Settings) -> None:
    """ALLOW ``principal`` exactly the documented rows of ``components`` (through the super user)."""
    types = {"Topic": ResourceType.TOPIC, "Group": ResourceType.GROUP, "Cluster": ResourceType.BROKER}
    bindings = {
        AclBinding(
            types[resource],
            name,
            ResourcePatternType.LITERAL,
            f"User:{principal}",
            "*",
            Operation(op).acl_operation,
            AclPermissionType.ALLOW,
        )
        for component in components
        for resource, name, operations in documented_acls(component, settings)
        for op in operations
    }  # a set: hubsync run's components share rows
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    for future in admin.create_acls(list(bindings), request_timeout=30).values():
        future.result()


def sasl_env(
    kafka: SecureKafkaServer, user: str, password: str, mechanism: str = "SCRAM-SHA-512"
) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.sasl_ssl_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": password,
        "KAFKA_SSL_CA_LOCATION": str(kafka.certificates.ca),
    }


def mtls_env(kafka: SecureKafkaServer, common_name: str) -> dict[str, str]:
    certificate = kafka.certificates.issue(common_name)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.ssl_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_LOCATION": str(kafka.certificates.ca),
        "KAFKA_SSL_CERTIFICATE_LOCATION": str(certificate.certificate),
        "KAFKA_SSL_KEY_LOCATION": str(certificate.key),
    }


def hubsync(env: Mapping[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_INHERITED_PREFIXES) and k not in _INHERITED_NAMES
    }
    return subprocess.run(
        [*_hubsync_command(), *args],
        env={**clean, **env, "NO_COLOR": "1", "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def setup(secure_kafka: SecureKafkaServer, fresh_database_url: str) -> WorkerSetup:
    """Topics under fresh names, created through the super-user listener, and a migrated database."""
    return prepare_worker(secure_kafka.bootstrap_servers, fresh_database_url, partitions=2)


# --- each component with exactly its ACLs -------------------------------------------------------


def test_the_worker_consumes_over_mtls_with_exactly_its_acls(
    secure_kafka: SecureKafkaServer, setup: WorkerSetup
) -> None:
    principal = f"worker-{uuid.uuid4().hex[:6]}"
    grant(secure_kafka, principal, "worker", settings=setup.settings)
    codec, schema = change_event_codec()
    events = list(contact_snapshot_events(40, seed=7, duplicate_ratio=0.0))
    produce(
        secure_kafka.bootstrap_servers,
        setup.topics.hubspot_contacts,
        [(key, codec.encode("contacts", schema, value), None) for key, value in events],
    )
    worker = WorkerProcess(setup.worker_env(**mtls_env(secure_kafka, principal)), name="mtls-worker")
    try:
        worker.start()
        worker.wait_until(lambda: contact_count(setup.database_url) == 40, "40 contacts applied", timeout=90)
        assert worker.stop() == 0, worker.describe()
    finally:
        worker.close()


def test_hubsync_run_over_sasl_ssl_scram_with_exactly_its_acls(
    secure_kafka: SecureKafkaServer, fresh_database_url: str
) -> None:
    with sandbox_for_run(secure_kafka.bootstrap_servers, fresh_database_url) as (sandbox, setup, port):
        grant(secure_kafka, "hubsync-run", "worker", "relay", "poller", "webhook", settings=setup.settings)
        env = setup.worker_env(**sasl_env(secure_kafka, "hubsync-run", PASSWORDS["hubsync-run"]))
        process = RunProcess(env, name="run", args=run_args(port))
        url = setup.database_url
        try:
            process.start()
            process.wait_until(
                lambda: "webhook receiver on http://" in process.output(), "the receiver", timeout=90
            )
            api = httpx.Client(
                base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            )
            created = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "sec@acme.com"}})
            assert created.status_code == 201, created.text
            hubspot_id = created.json()["id"]
            process.wait_until(
                lambda: (
                    scalar(url, "SELECT count(*) FROM hubsync.contacts WHERE hubspot_id = %s", (hubspot_id,))
                    == 1
                ),
                "the sandbox contact in PostgreSQL",
                timeout=60,
            )
            with psycopg.connect(url, autocommit=True) as conn:
                record_id = create_record(conn, "contact", {"email": "pushed-sec@acme.com"}, manual=True)
            process.wait_until(
                lambda: (
                    scalar(url, "SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", (record_id,))
                    is not None
                ),
                "the platform record pushed through the relay and the push agent",
                timeout=60,
            )
            assert process.stop(timeout=30) == 0, process.describe()
            assert "restarting " not in process.output(), process.describe()
            assert PASSWORDS["hubsync-run"] not in process.output()
        finally:
            process.close()


def test_pull_over_sasl_ssl_plain_with_exactly_the_poller_acls(
    secure_kafka: SecureKafkaServer, setup: WorkerSetup
) -> None:
    grant(secure_kafka, "hubsync-poller", "poller", settings=setup.settings)
    config = SandboxConfig(access_token=SecretStr(TOKEN))
    with ThreadedSandbox(config, seed=SeedSpec(contacts=25, companies=0)) as sandbox:
        env = {
            **setup.env,
            **sasl_env(secure_kafka, "hubsync-poller", PLAIN_PASSWORDS["hubsync-poller"], "PLAIN"),
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "HUBSPOT_BASE_URL": sandbox.base_url,
        }
        result = hubsync(env, "pull", "contacts", "--full")
    assert result.returncode == 0, result.stdout + result.stderr
    # a full pull goes to the backfill lane
    published = end_offsets(
        secure_kafka.bootstrap_servers, setup.topics.hubspot_contacts_backfill, setup.partitions
    )
    assert sum(published.values()) == 25


def test_topics_create_and_status_with_exactly_their_acls(
    secure_kafka: SecureKafkaServer, setup: WorkerSetup
) -> None:
    uid = uuid.uuid4().hex[:8]
    names = {role: f"test.acl.{uid}.{role}" for role in TopicNames.model_fields}
    settings = setup.settings.model_copy(update={"topics": TopicNames(**names)})
    env = {
        **setup.env,
        **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in names.items()},
    }
    grant(secure_kafka, "hubsync-topics", "topics", settings=settings)
    grant(secure_kafka, "hubsync-status", "status", settings=settings)
    created = hubsync(
        {**env, **sasl_env(secure_kafka, "hubsync-topics", PASSWORDS["hubsync-topics"])}, "topics", "create"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    topics = AdminClient({"bootstrap.servers": secure_kafka.bootstrap_servers}).list_topics(timeout=10).topics
    assert set(names.values()) <= set(topics)
    status = hubsync(
        {**env, **sasl_env(secure_kafka, "hubsync-status", PASSWORDS["hubsync-status"])}, "status", "--json"
    )
    assert status.returncode == 0, status.stdout + status.stderr


# --- refusals: a clear error and exit code 3, quickly -------------------------------------------


def _refused(env: Mapping[str, str], *args: str) -> str:
    result = hubsync(env, *args, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode == 3, f"exit {result.returncode}: {output}"
    assert "Traceback" not in output, output
    return output


def test_a_wrong_password_is_refused_clearly(secure_kafka: SecureKafkaServer, setup: WorkerSetup) -> None:
    env = {**setup.env, **sasl_env(secure_kafka, "hubsync-worker", "not-the-password")}
    output = _refused(env, "worker", "--no-refresh")
    assert "refused the credentials" in output
    assert "Authentication failed" in output
    assert "not-the-password" not in output


def test_a_missing_client_certificate_is_refused_clearly(
    secure_kafka: SecureKafkaServer, setup: WorkerSetup
) -> None:
    env = {
        **setup.env,
        "KAFKA_BOOTSTRAP_SERVERS": secure_kafka.ssl_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_LOCATION": str(secure_kafka.certificates.ca),
    }
    assert "refused the credentials" in _refused(env, "relay", "--once")


def test_a_missing_acl_names_what_is_missing(secure_kafka: SecureKafkaServer, setup: WorkerSetup) -> None:
    """The worker's rows except its group: the worker stops at start and says so."""
    principal = f"nogroup-{uuid.uuid4().hex[:6]}"
    types = {"Topic": ResourceType.TOPIC}
    bindings = [
        AclBinding(
            types[resource], name, ResourcePatternType.LITERAL, f"User:{principal}", "*",
            Operation(op).acl_operation, AclPermissionType.ALLOW,
        )
        for resource, name, operations in documented_acls("worker", setup.settings)
        if resource == "Topic"
        for op in operations
    ]  # fmt: skip
    admin = AdminClient({"bootstrap.servers": secure_kafka.bootstrap_servers})
    for future in admin.create_acls(bindings, request_timeout=30).values():
        future.result()
    output = _refused({**setup.env, **mtls_env(secure_kafka, principal)}, "worker", "--no-refresh")
    assert f"lacks Read on Group {setup.agents_group}; Read on Group {setup.ingest_group}" in output
    assert "docs/deploy.md#kafka-acls" in output


def test_contradicting_settings_stop_before_connecting(setup: WorkerSetup, tmp_path: Path) -> None:
    cases = [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "does not use SASL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": str(tmp_path / "nope.pem")},
            "not a readable file",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "invalid setting"),
    ]
    for extra, message in cases:
        assert message in _refused({**setup.env, **extra}, "worker", "--no-refresh"), extra


def test_a_component_that_may_not_create_its_missing_topics_says_so(
    secure_kafka: SecureKafkaServer, setup: WorkerSetup
) -> None:
    """The relay's ACLs on topics that do not exist yet: it may not create them (only the topics
    job may), and says what to run."""
    uid = uuid.uuid4().hex[:8]
    names = {role: f"test.missing.{uid}.{role}" for role in TopicNames.model_fields}
    settings = setup.settings.model_copy(update={"topics": TopicNames(**names)})
    principal = f"relay-{uid}"
    grant(secure_kafka, principal, "relay", settings=settings)
    env = {
        **setup.env,
        **{f"HUBSYNC_TOPICS__{role.upper()}": name for role, name in names.items()},
        **mtls_env(secure_kafka, principal),
    }
    output = _refused(env, "relay", "--once")
    assert "may not create it: run `hubsync topics create`" in output


def test_a_missing_describe_configs_acl_is_named_not_a_traceback(
    secure_kafka: SecureKafkaServer, setup: WorkerSetup
) -> None:
    principal = f"noconfigs-{uuid.uuid4().hex[:6]}"
    types = {"Topic": ResourceType.TOPIC, "Group": ResourceType.GROUP}
    bindings = [
        AclBinding(
            types[resource], name, ResourcePatternType.LITERAL, f"User:{principal}", "*",
            Operation(op).acl_operation, AclPermissionType.ALLOW,
        )
        for resource, name, operations in documented_acls("worker", setup.settings)
        for op in operations
        if op != "DescribeConfigs"
    ]  # fmt: skip
    admin = AdminClient({"bootstrap.servers": secure_kafka.bootstrap_servers})
    for future in admin.create_acls(bindings, request_timeout=30).values():
        future.result()
    output = _refused({**setup.env, **mtls_env(secure_kafka, principal)}, "worker", "--no-refresh")
    assert "needs DescribeConfigs" in output


@pytest.mark.parametrize(
    ("protocol", "mechanism"), [("SASL_SSL", "SCRAM-SHA-256"), ("SASL_PLAINTEXT", "SCRAM-SHA-512")]
)
def test_the_worker_consumes_with_the_other_sasl_settings(
    secure_kafka: SecureKafkaServer, setup: WorkerSetup, protocol: str, mechanism: str
) -> None:
    """Faust's aiokafka and confluent-kafka with SCRAM-SHA-256 over TLS, and SASL without TLS."""
    grant(secure_kafka, "hubsync-worker", "worker", settings=setup.settings)
    codec, schema = change_event_codec()
    events = list(contact_snapshot_events(10, seed=3, duplicate_ratio=0.0))
    produce(
        secure_kafka.bootstrap_servers,
        setup.topics.hubspot_contacts,
        [(key, codec.encode("contacts", schema, value), None) for key, value in events],
    )
    env = sasl_env(secure_kafka, "hubsync-worker", PASSWORDS["hubsync-worker"], mechanism)
    env["KAFKA_SECURITY_PROTOCOL"] = protocol
    if protocol == "SASL_PLAINTEXT":
        env["KAFKA_BOOTSTRAP_SERVERS"] = secure_kafka.sasl_plaintext_bootstrap
        del env["KAFKA_SSL_CA_LOCATION"]
    worker = WorkerProcess(setup.worker_env(**env), name=f"{protocol}-worker")
    try:
        worker.start()
        worker.wait_until(lambda: contact_count(setup.database_url) == 10, "10 contacts applied", timeout=90)
        assert worker.stop() == 0, worker.describe()
    finally:
        worker.close()
