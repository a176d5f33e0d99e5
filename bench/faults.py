"""The fault suite: the whole pipeline under faults, checked by an oracle after every trial.

One deployment (the sandbox, ``hubsync worker``, ``relay``, ``webhook`` and ``poller`` as processes of
their own, a PostgreSQL server the suite owns, Apache Kafka) takes a workload of changes on both sides
(:mod:`bench._fault_oracle`). Each trial injects one fault while the workload runs, then waits until
HubSpot, PostgreSQL and ``crm.contacts`` agree with the ledger of every change made so far (the
oracle), or a timeout passes. A trial's recovery time runs from the fault (a process's death, the end
of an outage) to the oracle holding; at the timeout, whatever still differs is counted as lost,
duplicated, regressed, missing from the error log or wrong on ``crm.contacts``.

Faults:

* **process**: ``kill -9`` at each crash point (:data:`hubsync._runtime.crashpoints.CRASH_POINTS`):
  the process is restarted with ``HUBSYNC_CRASH_AT=<point>:<n>`` (``n`` drawn from 1-2, so which
  pass dies varies with the workload's timing), kills itself there, and is started again;
* **infrastructure**: PostgreSQL restarted (down 1-3 s) and its sessions cut during load; a second
  worker joining and leaving the group every few seconds;
* **HubSpot**: 10% 5xx answers, requests applied and then left unanswered (10%), timeouts (answers
  2 +- 2.5 s late against the client's 3 s read timeout), a 429 storm (a burst limit of 4 requests
  per second).

Run: ``python -m bench.faults`` (every fault, 10 trials each; ``--trials``, ``--only SUBSTRING``,
``--markdown PATH`` writes the table for docs/reliability.md). Uses ``$KAFKA_BOOTSTRAP_SERVERS``
when set, else starts Apache Kafka.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench._fault_env import COMPONENTS, TOKEN, Component, FaultEnvironment, fault_environment
from bench._fault_oracle import PROBLEM_KINDS, CrmFollower, Problem, Workload, check, tally
from bench._fault_scan import scan
from bench._report import RESULTS_DIR
from hubsync._runtime.crashpoints import CRASH_POINTS
from hubsync.testing import ApacheKafkaServer
from hubsync.testing.kafka_cluster import KafkaCluster

#: seconds a trial may take to converge after its fault before what differs is counted
CONVERGE_TIMEOUT_S = 120.0
#: which process each crash point's prefix lives in
PROCESS_OF = {
    "ingest": "worker",
    "push": "worker",
    "relay": "relay",
    "webhook": "webhook",
    "poller": "poller",
}

Inject = Callable[[FaultEnvironment, Workload, random.Random], float | None]


@dataclass(frozen=True)
class Fault:
    """One kind of fault. ``inject`` runs the workload while it injects the fault and returns when
    the fault ended (monotonic seconds), or None when it could not be injected."""

    name: str
    group: str
    inject: Inject
    #: the processes running during the trial (webhook trials run no poller, so every HubSpot
    #: change must come through the receiver; poller trials run no receiver)
    components: tuple[str, ...] = COMPONENTS


@dataclass
class TrialResult:
    fault: str
    injected: bool
    recovery_s: float | None
    problems: list[Problem] = field(default_factory=list)


# --- process faults -----------------------------------------------------------------------------


def _waves(workload: Workload, rng: random.Random, n: int) -> None:
    for _ in range(n):
        workload.wave()
        time.sleep(rng.uniform(0.2, 0.8))


def crash_at(point: str) -> Inject:
    target = PROCESS_OF[point.split(".")[0]]

    def inject(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
        component = env.components[target]
        component.stop()
        component.start(crash_at=f"{point}:{rng.randint(1, 2)}")
        code = None
        for _ in range(10):
            workload.wave()
            code = component.wait_exit(rng.uniform(0.3, 1.2))
            if code is not None:
                break
        if code is None:
            code = component.wait_exit(20.0)
        died = time.monotonic()
        if code is None:
            component.stop()
        component.start()
        return died if code == -signal.SIGKILL else None

    return inject


def _components_for(point: str) -> tuple[str, ...]:
    if point.startswith("webhook."):
        return ("worker", "relay", "webhook")
    if point.startswith("poller."):
        return ("worker", "relay", "poller")
    return COMPONENTS


# --- infrastructure faults ----------------------------------------------------------------------


def postgres_restart(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
    _waves(workload, rng, 2)
    env.restart_postgres(down_s=rng.uniform(1.0, 3.0))
    ended = time.monotonic()
    _waves(workload, rng, 2)
    return ended


def postgres_sessions_cut(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
    _waves(workload, rng, 2)
    cut = env.cut_connections()
    ended = time.monotonic()
    _waves(workload, rng, 2)
    return ended if cut else None


def group_churn(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
    extra = Component("worker", (), env.components["worker"].env, env.log_dir, label="worker-joining")
    try:
        for _ in range(3):
            extra.start()
            _waves(workload, rng, 2)
            time.sleep(rng.uniform(1.0, 3.0))
            extra.stop()
            _waves(workload, rng, 1)
    finally:
        extra.stop()
    return time.monotonic()


# --- Kafka faults (a three-node cluster) --------------------------------------------------------


def _cluster(env: FaultEnvironment) -> KafkaCluster:
    if env.cluster is None:
        raise RuntimeError("a Kafka fault needs the deployment on a cluster")
    return env.cluster


def _broker_down(
    env: FaultEnvironment, workload: Workload, rng: random.Random, node: int
) -> tuple[float, int]:
    """Kill ``node`` during load, start it again 1-3 waves later; ``(when it was back, the active
    controller while it was down)``."""
    cluster = _cluster(env)
    _waves(workload, rng, 1)
    cluster.kill(node)
    _waves(workload, rng, 1)
    controller = cluster.active_controller()
    _waves(workload, rng, 2)
    time.sleep(rng.uniform(0.0, 3.0))
    cluster.start_node(node)
    return time.monotonic(), controller


def broker_killed(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
    cluster = _cluster(env)
    controller = cluster.active_controller()
    others = [n for n in cluster.nodes if n != controller]
    return _broker_down(env, workload, rng, rng.choice(others))[0]


def controller_moved(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
    """Kill the active controller: injected when another node led the quorum while it was down."""
    before = _cluster(env).active_controller()
    ended, during = _broker_down(env, workload, rng, before)
    return ended if during != before else None


# --- HubSpot faults -----------------------------------------------------------------------------


def sandbox_faults(settings: dict[str, Any], *, rate_limits: dict[str, Any] | None = None) -> Inject:
    def inject(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
        with env.api as api:
            api.put("/_sandbox/faults", json={**settings, "seed": rng.randrange(2**31)}).raise_for_status()
            if rate_limits:
                before = api.get("/_sandbox/rate-limits").json()
                api.put("/_sandbox/rate-limits", json=rate_limits).raise_for_status()
            try:
                _waves(workload, rng, 3)
                time.sleep(3.0)  # the pushes and fetches of the last wave meet the faults too
            finally:
                api.put(
                    "/_sandbox/faults",
                    json={"error_rate": 0, "drop_rate": 0, "latency_ms": 0, "latency_jitter_ms": 0},
                ).raise_for_status()
                if rate_limits:
                    restore = {
                        "burst_limit": before["burstLimit"],
                        "burst_window_s": before["burstWindowMs"] / 1000,
                        "daily_limit": before["dailyLimit"],
                        "retry_after": before["retryAfter"],
                    }
                    api.put("/_sandbox/rate-limits", json=restore).raise_for_status()
        return time.monotonic()

    return inject


def daily_limit(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
    """The portal's daily limit is reached mid-load; later it resets (the sandbox's limit raised,
    as midnight would). Injected when hubsync met the limit and sent at most a handful of
    requests past it (each process stops calling once told; the ones in flight are refused)."""
    with env.api as api:
        before = api.get("/_sandbox/rate-limits").json()
        api.put("/_sandbox/rate-limits", json={"daily_limit": before["dailyUsed"] + 15}).raise_for_status()
        try:
            _waves(workload, rng, 3)
            time.sleep(3.0)
            after = api.get("/_sandbox/rate-limits").json()
        finally:
            api.put("/_sandbox/rate-limits", json={"daily_limit": before["dailyLimit"]}).raise_for_status()
    over = after["dailyUsed"] - (before["dailyUsed"] + 15)
    workload.notes.append(f"daily limit: {max(0, over)} request(s) past the limit")
    return time.monotonic() if over > 0 else None


def token_revoked(env: FaultEnvironment, workload: Workload, rng: random.Random) -> float | None:
    """The private app's token is refused (401) mid-load, then works again (a person put a working
    one in place). Nothing may be lost or sent to the error log meanwhile."""
    with env.api as api:
        api.put("/_sandbox/faults", json={"revoked_tokens": [TOKEN]}).raise_for_status()
        try:
            _waves(workload, rng, 3)
            time.sleep(3.0)
            refused = api.get("/_sandbox/requests", params={"status": 401, "path_prefix": "/crm/"}).json()
        finally:
            api.put("/_sandbox/faults", json={"revoked_tokens": []}).raise_for_status()
    workload.notes.append(f"token revoked: {len(refused['results'])} request(s) refused")
    return time.monotonic() if refused["results"] else None


def faults() -> list[Fault]:
    out = [Fault(f"kill -9 at {p}", "process", crash_at(p), _components_for(p)) for p in CRASH_POINTS]
    out += [
        Fault("PostgreSQL restarted", "infrastructure", postgres_restart),
        Fault("PostgreSQL sessions cut", "infrastructure", postgres_sessions_cut),
        Fault("a worker joins and leaves", "infrastructure", group_churn),
        Fault("a Kafka broker killed (kill -9) and restarted", "kafka", broker_killed),
        Fault("the Kafka controller killed: the quorum elects another", "kafka", controller_moved),
        Fault(
            "HubSpot: 10% 5xx, half of them HTML pages",
            "hubspot",
            sandbox_faults({"error_rate": 0.1, "html_share": 0.5, "path_prefix": "/crm/"}),
        ),
        Fault(
            "HubSpot: applied, answer dropped (10%)",
            "hubspot",
            sandbox_faults({"drop_rate": 0.1, "path_prefix": "/crm/"}),
        ),
        Fault(
            "HubSpot: answers 0-4.5 s late, read timeout 3 s",
            "hubspot",
            sandbox_faults({"latency_ms": 2000, "latency_jitter_ms": 2500, "path_prefix": "/crm/"}),
        ),
        Fault("HubSpot: the daily limit reached, then reset", "hubspot", daily_limit),
        Fault("HubSpot: the token revoked, then working again", "hubspot", token_revoked),
        Fault(
            "HubSpot: 429 storm (4 requests/s), no Retry-After",
            "hubspot",
            sandbox_faults({}, rate_limits={"burst_limit": 4, "burst_window_s": 1.0}),
        ),
        Fault(
            "HubSpot: 429 storm (4 requests/s) with Retry-After",
            "hubspot",
            sandbox_faults({}, rate_limits={"burst_limit": 4, "burst_window_s": 1.0, "retry_after": True}),
        ),
    ]
    return out


# --- the run ------------------------------------------------------------------------------------


def converge(
    env: FaultEnvironment,
    workload: Workload,
    crm: CrmFollower,
    since: float,
    timeout_s: float,
    known: frozenset[str] = frozenset(),
) -> tuple[list[Problem], float | None]:
    """Wait until the oracle holds but for the ``known`` differences (counted by an earlier
    trial: the ledger is cumulative, and one lasting difference must not fail every later trial);
    ``(what newly differs, seconds from since)``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            problems = [p for p in check(env, workload.ledger, crm) if p.detail not in known]
        except (psycopg.OperationalError, OSError) as exc:  # PostgreSQL still starting
            problems = [Problem("lost", f"oracle could not read: {exc}")]
        if not problems:
            return [], time.monotonic() - since
        if time.monotonic() > deadline:
            return problems, None
        time.sleep(0.5)


def run_trial(
    env: FaultEnvironment,
    workload: Workload,
    crm: CrmFollower,
    fault: Fault,
    rng: random.Random,
    known: frozenset[str] = frozenset(),
) -> TrialResult:
    env.ensure_running(fault.components)
    started = time.monotonic()
    ended = fault.inject(env, workload, rng)
    pulls = workload.wait_for_pulls()
    if any(code not in (0, None) for code in pulls):  # refused by a fault (Kafka down, 429s): nothing lost
        workload.notes.append(f"manual pulls exited {pulls}")
    problems, recovery = converge(env, workload, crm, ended or started, CONVERGE_TIMEOUT_S, known)
    return TrialResult(fault.name, ended is not None, recovery, problems)


def summarize(fault: Fault, results: list[TrialResult]) -> dict[str, Any]:
    counts = dict.fromkeys(PROBLEM_KINDS, 0)
    for r in results:
        for kind, n in tally(r.problems).items():
            counts[kind] += n
    recoveries = [r.recovery_s for r in results if r.recovery_s is not None]
    return {
        "fault": fault.name,
        "group": fault.group,
        "trials": len(results),
        "injected": sum(r.injected for r in results),
        "converged": sum(r.recovery_s is not None for r in results),
        **counts,
        "worst_recovery_s": max(recoveries) if recoveries else None,
    }


@contextlib.contextmanager
def _kafka(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    with ApacheKafkaServer() as kafka:
        yield kafka.bootstrap_servers


def run(
    bootstrap: str | None,
    trials: int,
    only: str | None = None,
    seed: int = 7,
    log: Callable[[str], None] = print,
    group: str | None = None,
    keep_logs: bool = False,
) -> list[dict[str, Any]]:
    """Run ``trials`` trials of every fault (whose name contains ``only``, of ``group``); one
    summary row each. The ``kafka`` group's faults run on a three-node cluster of their own."""
    chosen = [f for f in faults() if (only is None or only in f.name) and group in (None, f.group)]
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    on_one = [f for f in chosen if f.group != "kafka"]
    on_cluster = [f for f in chosen if f.group == "kafka"]
    if on_one:
        with _kafka(bootstrap) as servers, fault_environment(servers, keep_logs=keep_logs) as env:
            rows += _trials(env, on_one, trials, rng, seed, log)
    if on_cluster:
        with (
            KafkaCluster() as cluster,
            fault_environment(cluster.bootstrap_servers, cluster=cluster, keep_logs=keep_logs) as env,
        ):
            rows += _trials(env, on_cluster, trials, rng, seed, log)
    return rows


def _trials(
    env: FaultEnvironment,
    chosen: list[Fault],
    trials: int,
    rng: random.Random,
    seed: int,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    log(f"logs of the processes: {env.log_dir}")
    known: set[str] = set()
    workload = Workload(env, seed)
    crm = CrmFollower(env)
    try:
        workload.wave()
        problems, _ = converge(env, workload, crm, time.monotonic(), CONVERGE_TIMEOUT_S)
        if problems:
            raise RuntimeError(f"the deployment does not converge without faults: {problems[:5]}")
        for fault in chosen:
            results: list[TrialResult] = []
            for i in range(trials):
                result = run_trial(env, workload, crm, fault, rng, frozenset(known))
                known.update(p.detail for p in result.problems)
                results.append(result)
                log(
                    f"{fault.name} #{i + 1}: injected={result.injected} recovery={result.recovery_s}"
                    f" problems={len(result.problems)} {[asdict(p) for p in result.problems[:3]]}"
                    f" {workload.notes}"
                )
                workload.notes.clear()
            rows.append(summarize(fault, results))
            rows[-1]["problems"] = [asdict(p) for r in results for p in r.problems][:20]
        leaks, scanned = scan(env, workload.ledger)
        rows.append(
            {
                "fault": f"security scan after the {' and '.join(sorted({f.group for f in chosen}))} faults",
                "group": "security",
                "scanned": scanned,
                "leaks": [asdict(p) for p in leaks],
            }
        )
        log(f"security scan: {scanned}, {len(leaks)} leak(s) {[asdict(p) for p in leaks[:5]]}")
    finally:
        crm.close()
        workload.close()
    return rows


def failed(row: dict[str, Any]) -> bool:
    """A summary row that shows a problem: a leak, a trial not injected or not converged, a difference."""
    if row["group"] == "security":
        return bool(row["leaks"])
    return (
        row["injected"] < row["trials"]
        or row["converged"] < row["trials"]
        or any(row[k] for k in PROBLEM_KINDS)
    )


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| fault | trials | injected | lost | duplicated | regressed | not in error log | wrong on crm.*"
        " | worst recovery |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["group"] == "security":
            continue
        worst = "-" if r["worst_recovery_s"] is None else f"{r['worst_recovery_s']:.1f} s"
        if r["converged"] < r["trials"]:
            worst += f" ({r['trials'] - r['converged']} did not converge)"
        lines.append(
            f"| {r['fault']} | {r['trials']} | {r['injected']} | {r['lost']} | {r['duplicated']} |"
            f" {r['regressed']} | {r['error_log']} | {r['crm_topic']} | {worst} |"
        )
    scans = [r for r in rows if r["group"] == "security"]
    if scans:
        lines += [
            "",
            "| security scan | log bytes | metrics bytes | error-log rows | topic messages"
            " | secrets or personal data found |",
            "|---|---|---|---|---|---|",
        ]
        for r in scans:
            n = r["scanned"]
            lines.append(
                f"| {r['fault']} | {n['log_bytes']} | {n['metrics_bytes']} | {n['error_log_rows']} |"
                f" {n['topic_messages']} | {len(r['leaks'])} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    import os

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=10, help="trials per fault (default 10)")
    parser.add_argument("--only", help="only the faults whose name contains this")
    parser.add_argument(
        "--group", choices=["process", "infrastructure", "kafka", "hubspot"], help="only this group's faults"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the processes' logs (their path is printed)"
    )
    args = parser.parse_args()
    started = time.monotonic()
    rows = run(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        args.trials,
        args.only,
        args.seed,
        group=args.group,
        keep_logs=args.keep_logs,
    )
    table = markdown(rows)
    print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {
        "benchmark": "faults",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "trials_per_fault": args.trials,
        "seconds": round(time.monotonic() - started, 1),
        "results": rows,
    }
    (RESULTS_DIR / "faults.json").write_text(json.dumps(payload, indent=2))
    if args.markdown:
        args.markdown.write_text(table)
    bad = [r for r in rows if failed(r)]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
