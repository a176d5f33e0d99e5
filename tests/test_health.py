"""``/healthz``, ``/readyz`` and ``/metrics`` of the long-running components."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from hubsync.health import HealthChecks, serve_health
from hubsync.storage.health import migrations_check, postgres_check
from hubsync.storage.migrate import migrate
from hubsync.streams.health import broker_check
from hubsync.testing import ApacheKafkaServer, PostgresServer, wait_for


def _fails() -> str:
    raise RuntimeError("database unreachable")


def _slow() -> str:
    time.sleep(10)
    return "late"


@pytest.fixture
def checks() -> HealthChecks:
    return HealthChecks()


@pytest.fixture
def base_url(checks: HealthChecks) -> Iterator[str]:
    registry = CollectorRegistry()
    Counter("hubsync_test_things", "things", registry=registry).inc(3)
    server = serve_health("127.0.0.1", 0, checks, registry)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()


def test_healthz_readyz_and_metrics(checks: HealthChecks, base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
    checks.add("always", lambda: "fine")
    ready = httpx.get(f"{base_url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["always"]["detail"] == "fine"
    checks.add("database", _fails)
    unready = httpx.get(f"{base_url}/readyz")
    assert unready.status_code == 503 and unready.json()["status"] == "fail"
    assert unready.json()["checks"]["database"] == {
        "ok": False,
        "detail": "RuntimeError: database unreachable",
        "ms": unready.json()["checks"]["database"]["ms"],
    }
    assert httpx.get(f"{base_url}/healthz").status_code == 200  # alive while not ready
    metrics = httpx.get(f"{base_url}/metrics")
    assert "hubsync_test_things_total 3.0" in metrics.text
    assert httpx.get(f"{base_url}/nope").status_code == 404


def test_a_slow_check_fails_within_the_timeout_and_stopping_is_not_ready(checks: HealthChecks) -> None:
    checks.add("slow", _slow)
    ready, results = checks.evaluate(timeout_s=0.2)
    assert not ready and results[0].detail == "no answer within 0.2 s"
    quick = HealthChecks({"ok": lambda: None})
    assert quick.evaluate()[0]
    quick.stopping = True
    ready, results = quick.evaluate()
    assert not ready and results[-1].name == "stopping"


@pytest.mark.integration
def test_ready_turns_false_when_postgres_or_the_broker_goes_away_and_true_when_it_returns(
    tmp_path: object,
) -> None:
    with PostgresServer() as pg, ApacheKafkaServer() as kafka:
        checks = HealthChecks()
        checks.add("postgres", postgres_check(pg.url))
        checks.add("migrations", migrations_check(pg.url))
        checks.add("kafka", broker_check(kafka.bootstrap_servers))
        server = serve_health("127.0.0.1", 0, checks, CollectorRegistry())
        url = f"http://127.0.0.1:{server.port}/readyz"
        try:
            pending = httpx.get(url, timeout=10)
            assert pending.status_code == 503 and not pending.json()["checks"]["migrations"]["ok"]
            assert "hubsync db migrate" in pending.json()["checks"]["migrations"]["detail"]
            migrate(pg.url)
            assert httpx.get(url, timeout=10).status_code == 200

            for name, pid in (("postgres", pg._process.pid), ("kafka", kafka._process.pid)):  # type: ignore[union-attr]
                os.kill(pid, signal.SIGSTOP)  # the service stops answering
                try:
                    down = wait_for(
                        lambda: (r := httpx.get(url, timeout=10)).status_code == 503 and r.json(),
                        timeout=30,
                        what=f"/readyz to fail while {name} is away",
                    )
                    assert not down["checks"][name]["ok"]
                finally:
                    os.kill(pid, signal.SIGCONT)
                wait_for(
                    lambda: httpx.get(url, timeout=10).status_code == 200, timeout=60, what=f"{name} back"
                )
        finally:
            server.close()


@pytest.mark.integration
def test_the_worker_serves_healthz_and_readyz_with_its_consumer(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    from tests.ingest.worker_harness import prepare_worker, running_worker

    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    with running_worker(setup.env) as worker:
        base = worker.metrics_url().removesuffix("/metrics")
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}

        def ready() -> dict[str, object] | None:
            worker.check_alive()
            answer = httpx.get(f"{base}/readyz", timeout=10)
            return answer.json() if answer.status_code == 200 else None  # type: ignore[no-any-return]

        body = wait_for(ready, timeout=90, what=lambda: f"the worker to be ready: {worker.describe()}")
        assert set(body["checks"]) == {"postgres", "migrations", "kafka", "consumer"}  # type: ignore[arg-type]

        # the worker measures its group's lag while idle too: one series per partition of its topics
        topic = setup.topics.hubspot_contacts
        series = f'hubsync_consumer_lag_messages{{partition="0",topic="{topic}"}}'

        def lag_reported() -> bool:
            worker.check_alive()
            return series in httpx.get(f"{base}/metrics", timeout=10).text

        wait_for(lag_reported, timeout=60, what=f"{series} on /metrics")
