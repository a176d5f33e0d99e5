"""``/healthz``, ``/readyz`` and ``/metrics`` of every long-running component, on its metrics port.

- ``GET /healthz``: the process is alive (its HTTP thread answers); 200 ``{"status": "ok"}``.
- ``GET /readyz``: every readiness check of the component passes (PostgreSQL and the broker
  reachable, migrations at head, the consumer has its assignment ...): 200, else 503; the JSON body
  lists each check with its outcome, detail and duration. A check that raises or takes longer than
  :data:`CHECK_TIMEOUT_S` fails. Checks run concurrently, on each request, so a probe sees the
  state of that moment.
- ``GET /metrics``: the Prometheus registry.

Checks are plain callables registered by the component (:class:`HealthChecks`); they return
nothing or a short detail, and raise to fail. Nothing here knows what they check.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

#: a readiness check slower than this fails (a probe must answer before its own timeout)
CHECK_TIMEOUT_S = 3.0

Check = Callable[[], str | None]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.seconds * 1000, 1)}


@dataclass
class HealthChecks:
    """A component's readiness checks, by name; ``stopping`` makes it unready while it drains."""

    checks: dict[str, Check] = field(default_factory=dict)
    stopping: bool = False
    _pool: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="hubsync-health")
    )

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def evaluate(self, timeout_s: float = CHECK_TIMEOUT_S) -> tuple[bool, list[CheckResult]]:
        """Run every check concurrently; (all passed and not stopping, results by name)."""
        started = {name: time.monotonic() for name in self.checks}
        futures = {name: self._pool.submit(check) for name, check in self.checks.items()}
        results = []
        for name, future in sorted(futures.items()):
            try:
                detail = future.result(timeout=max(0.0, timeout_s - (time.monotonic() - started[name])))
                results.append(CheckResult(name, True, detail or "ok", time.monotonic() - started[name]))
            except concurrent.futures.TimeoutError:
                results.append(CheckResult(name, False, f"no answer within {timeout_s:g} s", timeout_s))
            except Exception as exc:  # a failed check is an answer, not an error of the server
                detail = f"{type(exc).__name__}: {exc}".strip()[:500]
                results.append(CheckResult(name, False, detail, time.monotonic() - started[name]))
        if self.stopping:
            results.append(CheckResult("stopping", False, "the component is shutting down", 0.0))
        return all(r.ok for r in results), results


def _handler(checks: HealthChecks, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # probes every few seconds: no access log

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: Mapping[str, Any]) -> None:
            self._send(status, json.dumps(value, sort_keys=True).encode(), "application/json")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                ready, results = checks.evaluate()
                body = {"status": "ok" if ready else "fail", "checks": {r.name: r.to_json() for r in results}}
                self._json(200 if ready else 503, body)
            elif path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._json(404, {"status": "not found", "paths": ["/healthz", "/readyz", "/metrics"]})

    return Handler


@dataclass
class HealthServer:
    """The HTTP server of ``/healthz``, ``/readyz`` and ``/metrics``, on a daemon thread."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_health(
    host: str, port: int, checks: HealthChecks | None = None, registry: CollectorRegistry = REGISTRY
) -> HealthServer:
    """Serve on ``host:port`` (``port`` 0 picks a free one) until the process ends or :meth:`close`."""
    server = ThreadingHTTPServer((host, port), _handler(checks or HealthChecks(), registry))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hubsync-health", daemon=True)
    thread.start()
    return HealthServer(server, thread)
