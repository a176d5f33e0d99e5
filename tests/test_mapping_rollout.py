"""After ``hubsync settings set mapping...`` the operator sees when the change is in effect: the
command waits until the running workers apply the new mapping version, and ``hubsync status``
shows the version each worker applies."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from hubsync.cli import app
from hubsync.testing import wait_for
from tests.ingest.worker_harness import prepare_worker, running_worker

pytestmark = pytest.mark.integration


def _invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_settings_set_waits_for_the_running_worker_and_status_shows_its_version(
    kafka_bootstrap_servers: str, fresh_database_url: str
) -> None:
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    env = dict(setup.env)
    with running_worker(env) as worker:

        def reported() -> list[object]:  # the worker says which mapping version it applies once it is up
            worker.check_alive()
            code, out = _invoke(env, "status", "--json")
            assert code == 0, out
            workers: list[object] = json.loads(out)["field_mappings"]["workers"]
            return workers

        wait_for(
            reported,
            timeout=90,
            interval=0.5,
            what=lambda: f"the worker's mapping version: {worker.describe()}",
        )
        code, out = _invoke(
            env, "settings", "set", "mapping.contact.jobtitle", "overwrite", "--timeout", "60", "--json"
        )
        assert code == 0, out
        rollout = json.loads(out)["mapping_rollout"]
        assert rollout["in_effect"] is True and rollout["behind"] == []
        (applied,) = rollout["workers"]
        assert applied["mapping_version"] >= rollout["version"] and applied["worker_id"].startswith("ingest@")

        status = json.loads(_invoke(env, "status", "--json")[1])["field_mappings"]
        assert status["version"] == rollout["version"]
        assert [w["mapping_version"] for w in status["workers"]] == [rollout["version"]]
        code, text = _invoke(env, "status")
        assert f"field mappings: version {rollout['version']}" in text and "(behind)" not in text

        # a worker that cannot apply it in time is named, and the command fails
        with psycopg.connect(fresh_database_url) as conn:
            conn.execute(
                "INSERT INTO hubsync.worker_contexts (worker_id, mapping_version, loaded_at, seen_at)"
                " VALUES ('ingest@stuck:1/x', 1, now(), now() + interval '1 hour')"
            )
        code, out = _invoke(env, "settings", "set", "mapping.contact.jobtitle", "autofill", "--timeout", "2")
        assert code == 1 and "still behind: ingest@stuck:1/x" in out
        code, out = _invoke(env, "settings", "set", "mapping.contact.jobtitle", "none", "--no-wait")
        assert code == 0 and "not yet applied by ingest@stuck:1/x" in out


def test_without_workers_the_change_applies_when_one_starts(
    fresh_database_url: str, kafka_bootstrap_servers: str
) -> None:
    setup = prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    code, out = _invoke(dict(setup.env), "settings", "set", "mapping.account.industry", "overwrite")
    assert code == 0 and "no worker is running; the change applies when one starts" in out


def test_a_worker_records_its_version_and_forgets_workers_gone_for_a_day(
    fresh_database_url: str, kafka_bootstrap_servers: str
) -> None:
    from psycopg_pool import ConnectionPool

    from hubsync.ingest.processor import ContextCache
    from hubsync.storage.config_versions import mapping_version, worker_contexts

    prepare_worker(kafka_bootstrap_servers, fresh_database_url, partitions=1)
    with psycopg.connect(fresh_database_url) as conn:
        conn.execute(
            "INSERT INTO hubsync.worker_contexts (worker_id, mapping_version, loaded_at, seen_at) VALUES"
            " ('ingest@old:1/a', 1, now() - interval '3 days', now() - interval '2 days'),"
            " ('ingest@recent:2/b', 1, now() - interval '1 hour', now() - interval '1 hour')"
        )
        conn.commit()
        cache = ContextCache(worker_id="ingest@me:3/c")
        cache.get(conn)  # a batch's load records nothing: no batch waits for another's row lock
        assert "ingest@me:3/c" not in {w.worker_id for w in worker_contexts(conn)}
        conn.commit()
        with ConnectionPool(fresh_database_url, min_size=1, max_size=1) as pool:
            cache.refresh(pool)  # the agents' timer, in a transaction of its own
        rows = {w.worker_id: w for w in worker_contexts(conn)}
        assert set(rows) == {"ingest@recent:2/b", "ingest@me:3/c"}
        assert rows["ingest@me:3/c"].mapping_version == mapping_version(conn) and rows["ingest@me:3/c"].live
        assert not rows["ingest@recent:2/b"].live
