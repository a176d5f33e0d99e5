"""The grace period of a stopping process: drain within it, or exit anyway.

Every long-running command drains on SIGTERM (the receiver answers what is in flight, producers
flush, the worker commits what PostgreSQL committed, the relay finishes its batch) and then exits
0. :func:`arm_shutdown_deadline`, called when the signal arrives, bounds that: a drain still
running after ``HUBSYNC_SHUTDOWN_GRACE_S`` seconds (a broker that stopped answering, say) is
abandoned with a log line and exit code 1, so the process ends before the orchestrator's SIGKILL
(Kubernetes waits ``terminationGracePeriodSeconds``, which the chart sets a few seconds longer).
Nothing is lost by that: offsets, cursors and outbox marks are only ever written after the work
they cover is durable.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading

__all__ = ["EXIT_AGENT_FAILED", "EXIT_DRAIN_TIMEOUT", "arm_shutdown_deadline", "stop_process"]

log = logging.getLogger("hubsync.shutdown")
EXIT_DRAIN_TIMEOUT = 1
#: an agent met an error no retry fixes: the process stops so its batch is redelivered
EXIT_AGENT_FAILED = 70
_armed = threading.Event()


def arm_shutdown_deadline(grace_s: float, what: str) -> None:
    """From now on ``what`` has ``grace_s`` seconds to exit; the first call counts, later ones
    (a second SIGTERM) change nothing."""
    if _armed.is_set():
        return
    _armed.set()

    def expire() -> None:
        log.error(
            "%s did not stop within its %.0f s grace period; exiting now (where each thread was: on"
            " standard error)",
            what,
            grace_s,
        )
        try:
            faulthandler.dump_traceback(sys.stderr.fileno(), all_threads=True)
        except (AttributeError, OSError, ValueError):  # no standard error to write to: exit all the same
            pass
        finally:
            stop_process(EXIT_DRAIN_TIMEOUT)

    timer = threading.Timer(grace_s, expire)
    timer.daemon = True
    timer.name = "hubsync-shutdown-deadline"
    timer.start()


def stop_process(code: int) -> None:
    """Exit now with ``code``, flushing the logs: nothing that was not made durable is marked done
    (offsets, cursors and outbox marks are only written after their work), so a restart redoes
    exactly what was in flight, as after a crash."""
    logging.shutdown()
    os._exit(code)
