"""``python -m hubsync.testing {up,down,fetch}``: detached test servers for CI and shells.

``up`` starts Apache Kafka and PostgreSQL in sessions of their own, so that they outlive this
command, records them in ``<state-dir>/services.json`` and prints ``export`` lines for
``eval "$(python -m hubsync.testing up)"``; progress goes to stderr. ``up`` on servers that are
still running only prints the lines again. ``down`` stops them and removes what they left.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hubsync.testing.kafka_server import ApacheKafkaServer, fetch_jars
from hubsync.testing.postgres_server import PostgresServer

STATE_FILE = "services.json"
DEFAULT_STATE_DIR = Path(".hubsync/test-services")


def _say(message: str) -> None:
    print(f"hubsync.testing: {message}", file=sys.stderr, flush=True)


def _exports(state: dict[str, Any]) -> str:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": state["kafka"]["bootstrap_servers"],
        "DATABASE_URL": state["postgres"]["url"],
    }
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def _load(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def _stop(state: dict[str, Any]) -> None:
    if "kafka" in state:
        ApacheKafkaServer.from_state(state["kafka"]).stop()
    if "postgres" in state:
        PostgresServer.from_state(state["postgres"]).stop()


def up(state_dir: Path) -> int:
    state = _load(state_dir)
    if state is not None:
        kafka = ApacheKafkaServer.from_state(state["kafka"])
        postgres = PostgresServer.from_state(state["postgres"])
        if kafka.is_running() and postgres.is_running():
            _say(f"already running (see {state_dir / STATE_FILE})")
            sys.stdout.write(_exports(state))
            return 0
        _say("cleaning up services that are no longer running")
        down(state_dir)
    state_dir = state_dir.resolve()
    kafka, postgres = ApacheKafkaServer(parent_dir=state_dir), PostgresServer(parent_dir=state_dir)
    _say("starting Apache Kafka and PostgreSQL")
    with ThreadPoolExecutor(max_workers=2) as pool:
        started: list[Future[Any]] = [pool.submit(kafka.start), pool.submit(postgres.start)]
    errors = [future.exception() for future in started if future.exception() is not None]
    if errors:
        kafka.stop()
        postgres.stop()
        for error in errors:
            _say(f"failed: {error}")
        return 1
    state = {"kafka": kafka.state(), "postgres": postgres.state()}
    (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    _say(f"Kafka at {kafka.bootstrap_servers}, PostgreSQL at {postgres.url}; stop with 'down'")
    sys.stdout.write(_exports(state))
    return 0


def down(state_dir: Path) -> int:
    state = _load(state_dir)
    if state is None:
        _say(f"nothing to stop: no {state_dir / STATE_FILE}")
        return 0
    _stop(state)
    (state_dir / STATE_FILE).unlink()
    if state_dir.is_dir() and not any(state_dir.iterdir()):
        state_dir.rmdir()
    _say("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hubsync.testing", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "start both servers, print export lines"), ("down", "stop them")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: %(default)s")
    commands.add_parser("fetch", help="only download the Apache Kafka jars (for CI's install step)")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(fetch_jars())
        return 0
    state_dir: Path = args.state_dir
    return up(state_dir) if args.command == "up" else down(state_dir)


if __name__ == "__main__":
    sys.exit(main())
