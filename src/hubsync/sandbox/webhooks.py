"""Webhook delivery for the sandbox: :class:`WebhookDispatcher` receives the store's change events
and sends them to ``config.webhook_url`` the way HubSpot does.

* batches of at most ``webhook_batch_size`` events (HubSpot: 100), a partial batch leaves after
  ``webhook_linger_s``;
* at most ``webhook_max_concurrency`` requests in flight (HubSpot's ``maxConcurrentRequests``, 10);
* signed with ``X-HubSpot-Signature-v3`` + ``X-HubSpot-Request-Timestamp``, and v1
  ``X-HubSpot-Signature`` + ``X-HubSpot-Signature-Version: v1`` as HubSpot sends with CRM object
  events; User-Agent and ``X-HubSpot-Timeout-Millis`` as seen on HubSpot's deliveries;
* a connection error, a timeout (``webhook_timeout_s``) or any non-2xx answer fails the attempt;
  the batch is retried after an exponential backoff with jitter (``webhook_retry_base_s`` doubling
  up to ``webhook_retry_max_s``; a 429's ``Retry-After`` is honoured up to that cap), with
  ``attemptNumber`` incremented (so the body and signatures change), up to
  ``webhook_max_attempts`` attempts; then it is dropped and counted. HubSpot spreads its 10
  attempts over about a day; the sandbox compresses the schedule.

Events keep their ``eventId`` across retries; ids are unique per dispatcher (a counter starting
at a random 31-bit value, so restarts rarely reuse ids).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import aiohttp

from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.events import ChangeEvent
from hubsync.sandbox.webhook_http import USER_AGENT, PostOutcome, build_request, post, target_url
from hubsync.sandbox.webhook_payloads import to_hubspot_json
from hubsync.sandbox.webhook_state import DeliveryAttempt, WebhookStats, backoff_delay

__all__ = [
    "USER_AGENT",
    "DeliveryAttempt",
    "WebhookDispatcher",
    "WebhookStats",
    "target_url",
    "to_hubspot_json",
]

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Batch:
    batch_id: int
    events: list[tuple[int, ChangeEvent]]


class WebhookDispatcher:
    """An :class:`~hubsync.sandbox.events.EventSink` that delivers events as HubSpot webhooks.

    ``emit`` only enqueues and never raises (it may be called before :meth:`start`, and from
    another thread once started); delivery runs in tasks on the loop that called :meth:`start`.
    """

    def __init__(
        self,
        config: SandboxConfig,
        *,
        max_queue_events: int = 100_000,
        log_size: int = 1_000,
        first_event_id: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not config.webhook_url:
            raise ValueError("webhook delivery needs config.webhook_url")
        if config.webhook_secret is None:
            raise ValueError("webhook delivery needs config.webhook_secret (the app's client secret)")
        for name in ("webhook_batch_size", "webhook_max_concurrency", "webhook_max_attempts"):
            if getattr(config, name) < 1:
                raise ValueError(f"config.{name} must be at least 1")
        self._config = config
        self._url = target_url(config.webhook_url)
        self._signed_uri = str(self._url)
        self._secret = config.webhook_secret.get_secret_value()
        self._max_queue = max_queue_events
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._next_event_id = (
            random.SystemRandom().randrange(1, 2**31) if first_event_id is None else first_event_id
        )
        self._next_batch_id = 1
        self._pending: deque[ChangeEvent] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(config.webhook_max_concurrency)
        #: delivery task -> number of events in its batch
        self._tasks: dict[asyncio.Task[None], int] = {}
        self._runner: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._state: Literal["new", "running", "stopping", "stopped"] = "new"
        self._log: deque[DeliveryAttempt] = deque(maxlen=log_size)
        self._in_flight = self._retrying = 0
        self._emitted = self._delivered_events = self._delivered_batches = self._failed_attempts = 0
        self._dropped_batches = self._dropped_events = self._rejected = self._abandoned = 0

    # -- EventSink ---------------------------------------------------------------------------

    def emit(self, events: list[ChangeEvent]) -> None:
        try:
            loop = self._loop
            if loop is not None and self._loop_thread != threading.get_ident():
                if self._state == "stopped" or loop.is_closed():
                    self._rejected += len(events)  # no loop to hand them to any more
                else:
                    loop.call_soon_threadsafe(self._enqueue, list(events))
            else:
                self._enqueue(events)
        except Exception:  # never let delivery trouble fail the write that emitted the events
            _log.exception("webhook dispatcher: could not enqueue events")

    def _enqueue(self, events: Sequence[ChangeEvent]) -> None:
        self._emitted += len(events)
        if self._state in ("stopping", "stopped"):
            self._rejected += len(events)
            return
        room = max(self._max_queue - len(self._pending), 0)
        if len(events) > room:
            _log.warning(
                "webhook queue full (%d events): %d events dropped", self._max_queue, len(events) - room
            )
            self._rejected += len(events) - room
            events = events[:room]
        if events:
            self._pending.extend(events)
            self._idle.clear()
            self._wakeup.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"dispatcher cannot start: it is {self._state}")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._config.webhook_max_concurrency)
        )
        self._state = "running"
        self._runner = asyncio.create_task(self._run(), name="webhook-dispatcher")
        self._runner.add_done_callback(_log_crash)

    async def stop(self, timeout_s: float = 5.0, *, drain: bool = True) -> None:
        """Stop accepting events; with ``drain``, deliver what is queued or being retried for up
        to ``timeout_s``; then cancel what is left (counted as abandoned) and close the client."""
        if self._state in ("stopping", "stopped"):
            return
        started = self._state == "running"
        self._state = "stopping"
        self._wakeup.set()
        if started and self._runner is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (timeout_s if drain else 0.0)
            if drain:
                await asyncio.wait({self._runner}, timeout=max(deadline - loop.time(), 0.0))
                if self._tasks:
                    await asyncio.wait(set(self._tasks), timeout=max(deadline - loop.time(), 0.0))
            leftovers = [task for task in (self._runner, *self._tasks) if not task.done()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
        self._abandoned += len(self._pending)
        self._pending.clear()
        if self._session is not None:
            await self._session.close()
        self._state = "stopped"
        self._idle.set()

    async def __aenter__(self) -> WebhookDispatcher:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until nothing is queued, in flight or waiting for a retry; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    # -- observation -------------------------------------------------------------------------

    def stats(self) -> WebhookStats:
        return WebhookStats(
            emitted_events=self._emitted,
            queued_events=len(self._pending),
            in_flight_requests=self._in_flight,
            retrying_batches=self._retrying,
            delivered_events=self._delivered_events,
            delivered_batches=self._delivered_batches,
            failed_attempts=self._failed_attempts,
            dropped_batches=self._dropped_batches,
            dropped_events=self._dropped_events,
            rejected_events=self._rejected,
            abandoned_events=self._abandoned,
        )

    def deliveries(self) -> list[DeliveryAttempt]:
        """The most recent delivery attempts, oldest first (bounded by ``log_size``)."""
        return list(self._log)

    # -- delivery ----------------------------------------------------------------------------

    async def _run(self) -> None:
        """Cut batches: wait for events, linger to fill a batch, wait for a free request slot."""
        loop = asyncio.get_running_loop()
        size = self._config.webhook_batch_size
        while True:
            if not self._pending:
                if self._state != "running":
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            deadline = loop.time() + self._config.webhook_linger_s
            while len(self._pending) < size and self._state == "running":
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
            await self._slots.acquire()
            count = min(size, len(self._pending))
            batch = _Batch(self._next_batch_id, [])
            self._next_batch_id += 1
            for _ in range(count):
                batch.events.append((self._next_event_id, self._pending.popleft()))
                self._next_event_id += 1
            task = asyncio.create_task(self._deliver(batch), name=f"webhook-batch-{batch.batch_id}")
            self._tasks[task] = count
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        events = self._tasks.pop(task, 0)
        if task.cancelled():
            self._abandoned += events
        _log_crash(task)
        if not self._tasks and not self._pending:
            self._idle.set()

    async def _deliver(self, batch: _Batch) -> None:
        """Attempts of one batch; called holding a request slot, which each attempt releases."""
        config = self._config
        holding_slot = True
        try:
            for attempt in range(config.webhook_max_attempts):
                if not holding_slot:
                    await self._slots.acquire()
                    holding_slot = True
                try:
                    record, outcome = await self._attempt(batch, attempt)
                except Exception:  # not an HTTP failure: the batch cannot be sent (e.g. not UTF-8)
                    _log.exception("webhook batch %d cannot be sent; dropped", batch.batch_id)
                    self._dropped_batches += 1
                    self._dropped_events += len(batch.events)
                    return
                finally:
                    self._slots.release()
                    holding_slot = False
                self._log.append(record)
                if outcome.ok:
                    self._delivered_batches += 1
                    self._delivered_events += len(batch.events)
                    return
                self._failed_attempts += 1
                if attempt + 1 == config.webhook_max_attempts:
                    break
                delay = backoff_delay(
                    attempt + 1,
                    base_s=config.webhook_retry_base_s,
                    max_s=config.webhook_retry_max_s,
                    rng=self._rng,
                )
                if outcome.retry_after_s is not None:
                    delay = max(delay, min(outcome.retry_after_s, config.webhook_retry_max_s))
                self._retrying += 1
                try:
                    await asyncio.sleep(delay)
                finally:
                    self._retrying -= 1
            self._dropped_batches += 1
            self._dropped_events += len(batch.events)
            _log.warning(
                "webhook batch %d (%d events) dropped after %d attempts",
                batch.batch_id,
                len(batch.events),
                config.webhook_max_attempts,
            )
        except asyncio.CancelledError:
            if holding_slot:
                self._slots.release()
            raise

    async def _attempt(self, batch: _Batch, attempt: int) -> tuple[DeliveryAttempt, PostOutcome]:
        config = self._config
        started = time.monotonic()
        request = build_request(
            batch.events,
            attempt=attempt,
            portal_id=config.portal_id,
            app_id=config.app_id,
            secret=self._secret,
            signed_uri=self._signed_uri,
            timeout_s=config.webhook_timeout_s,
        )
        assert self._session is not None, "started"
        self._in_flight += 1
        try:
            outcome = await post(self._session, self._url, request, config.webhook_timeout_s)
        finally:
            self._in_flight -= 1
        record = DeliveryAttempt(
            batch_id=batch.batch_id,
            attempt=attempt,
            event_ids=tuple(event_id for event_id, _ in batch.events),
            started_at_ms=request.timestamp_ms,
            duration_s=time.monotonic() - started,
            status=outcome.status,
            error=outcome.error,
        )
        return record, outcome


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("webhook dispatcher task %s crashed", task.get_name(), exc_info=task.exception())
