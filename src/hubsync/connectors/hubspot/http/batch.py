"""Batch results mapped back to the caller's inputs.

HubSpot's batch endpoints take at most 100 inputs and answer partial failures with a 207 whose
``errors`` name the inputs they concern in ``context.ids`` (update, upsert, read) or
``context.objectWriteTraceId``. Results are matched by ``objectWriteTraceId`` (the client puts
one on every write input that has none), by ``id``, or by the value of the ``idProperty``.

Errors that name no input (batch create, where HubSpot has no id to quote) are paired with the
inputs left without a result *in order*: HubSpot processes a batch in input order and reports
errors in that order, which is what the sandbox does too. A single such error is given to every
such input. An input left with neither a result nor an error is reported failed
(``MISSING_RESULT``) so nothing is silently lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubsync.connectors.hubspot.http.classify import header
from hubsync.connectors.hubspot.http.errors import (
    HubSpotErrorDetails,
    HubSpotRecordError,
    HubSpotRetriesExhaustedError,
)
from hubsync.connectors.hubspot.http.ratelimit import Lane
from hubsync.connectors.hubspot.http.requester import Bucket, Requester
from hubsync.hubspot_model.errors import CATEGORY_STATUS, CORRELATION_HEADER
from hubsync.hubspot_model.limits import BATCH_LIMIT

#: HubSpot's maximum number of inputs per batch request

JSON = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BatchSuccess:
    index: int
    input: JSON
    result: JSON


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """One input HubSpot did not accept: its error as HubSpot reported it. ``retriable`` when it
    failed on 429/5xx/477/connection errors after ``attempts`` tries (worth retrying later)."""

    index: int
    input: JSON
    details: HubSpotErrorDetails
    retriable: bool = False
    attempts: int = 1

    @property
    def status(self) -> int:
        return self.details.status

    @property
    def category(self) -> str | None:
        return self.details.category

    @property
    def message(self) -> str | None:
        return self.details.message

    @property
    def correlation_id(self) -> str | None:
        return self.details.correlation_id

    @property
    def context(self) -> Mapping[str, Any]:
        return self.details.context

    @property
    def errors(self) -> tuple[Mapping[str, Any], ...]:
        return self.details.errors


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """Per-input results of a batch call, each list in input order."""

    succeeded: tuple[BatchSuccess, ...] = ()
    failed: tuple[BatchFailure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed

    @classmethod
    def combine(cls, parts: Iterable[BatchOutcome]) -> BatchOutcome:
        parts = list(parts)
        succeeded = sorted((s for p in parts for s in p.succeeded), key=lambda s: s.index)
        failed = sorted((f for p in parts for f in p.failed), key=lambda f: f.index)
        return cls(tuple(succeeded), tuple(failed))


def chunked(items: Sequence[JSON], size: int = BATCH_LIMIT) -> list[tuple[int, Sequence[JSON]]]:
    """``(offset, chunk)`` pairs of at most ``size`` items, in order."""
    return [(start, items[start : start + size]) for start in range(0, len(items), size)]


def error_keys(error: JSON) -> list[str]:
    """The input keys a batch error names (``context.ids``, ``context.objectWriteTraceId``,
    or a top-level ``objectWriteTraceId``)."""
    keys: list[str] = []
    context = error.get("context")
    if isinstance(context, Mapping):
        for name in ("ids", "objectWriteTraceId", "objectWriteTraceIds"):
            value = context.get(name)
            values = value if isinstance(value, list) else [value] if value is not None else []
            keys.extend(str(v) for v in values)
    if error.get("objectWriteTraceId") is not None:
        keys.append(str(error["objectWriteTraceId"]))
    return keys


def map_batch(
    inputs: Sequence[JSON],
    offset: int,
    status: int,
    body: JSON | None,
    *,
    input_keys: Sequence[Iterable[str]],
    result_keys: Callable[[JSON], Iterable[str]],
    correlation_id: str | None = None,
) -> BatchOutcome:
    """Map one batch answer (``results``/``errors``) back to ``inputs`` (global index = offset + i).

    ``input_keys[i]`` are the keys input ``i`` can be recognised by; ``result_keys`` gives those
    of a result. Each failure keeps its own status and the answer's (``status``, e.g. 207), and
    the answer's ``correlation_id`` (its header) where the error names none."""
    lookup: dict[str, list[int]] = {}
    for i, keys in enumerate(input_keys):
        for key in keys:
            lookup.setdefault(key, []).append(i)
    results: dict[int, JSON] = {}
    failures: dict[int, HubSpotErrorDetails] = {}
    for result in _list(body, "results"):
        for key in result_keys(result):
            hits = [i for i in lookup.get(key, ()) if i not in results]
            for i in hits:
                results[i] = result
            if hits:
                break
    unattributed: list[HubSpotErrorDetails] = []
    for error in _list(body, "errors"):
        details = HubSpotErrorDetails.from_body(
            _error_status(error, status), error, http_status=status, correlation_header=correlation_id
        )
        hits = sorted({i for key in error_keys(error) for i in lookup.get(key, ()) if i not in results})
        for i in hits:
            failures.setdefault(i, details)
        if not hits:
            unattributed.append(details)
    leftover = [i for i in range(len(inputs)) if i not in results and i not in failures]
    for n, i in enumerate(leftover):
        if len(unattributed) == 1:
            failures[i] = unattributed[0]
        elif n < len(unattributed):
            failures[i] = unattributed[n]
        else:
            failures[i] = HubSpotErrorDetails(
                status=status,
                category="MISSING_RESULT",
                message="HubSpot's answer has neither a result nor an error for this input",
                correlation_id=correlation_id,
            )
    return BatchOutcome(
        tuple(BatchSuccess(offset + i, inputs[i], results[i]) for i in sorted(results)),
        tuple(BatchFailure(offset + i, inputs[i], failures[i]) for i in sorted(failures)),
    )


def failed_chunk(
    inputs: Sequence[JSON], offset: int, details: HubSpotErrorDetails, *, retriable: bool, attempts: int
) -> BatchOutcome:
    """Every input of a chunk whose request failed as a whole."""
    return BatchOutcome(
        failed=tuple(
            BatchFailure(offset + i, item, details, retriable=retriable, attempts=attempts)
            for i, item in enumerate(inputs)
        )
    )


def _list(body: JSON | None, name: str) -> list[JSON]:
    value = body.get(name) if body else None
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _error_status(error: JSON, fallback: int) -> int:
    """Batch errors carry ``status: "error"``, not a number; HubSpot's category tells more."""
    value = error.get("status")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return CATEGORY_STATUS.get(str(error.get("category")), fallback)


async def send_in_chunks(
    requester: Requester,
    path: str,
    inputs: Sequence[JSON],
    body_of: Callable[[Sequence[JSON]], dict[str, Any]],
    *,
    input_keys: Callable[[int, Any], Iterable[str]],
    result_keys: Callable[[JSON], Iterable[str]],
    chunk_size: int,
    lane: Lane,
    idempotent: bool,
    bucket: Bucket,
    params: Mapping[str, Any] | None,
) -> BatchOutcome:
    """POST ``inputs`` to ``path`` in chunks (concurrently; the portal's bucket paces them) and
    map every answer back. A chunk HubSpot rejects as a whole (400, or retries exhausted) fails
    each of its inputs; a fatal error (auth, daily limit) is raised once every chunk is done."""

    async def one(offset: int, chunk: Sequence[JSON]) -> BatchOutcome:
        try:
            response = await requester.request(
                "POST", path, endpoint=path, json=body_of(chunk), params=params,
                lane=lane, bucket=bucket, idempotent=idempotent,
            )  # fmt: skip
        except HubSpotRecordError as exc:
            return failed_chunk(chunk, offset, exc.details, retriable=False, attempts=1)
        except HubSpotRetriesExhaustedError as exc:
            return failed_chunk(chunk, offset, exc.details, retriable=True, attempts=exc.attempts)
        if response.status == 204 or response.body is None:
            return BatchOutcome(tuple(BatchSuccess(offset + i, x, {}) for i, x in enumerate(chunk)))
        keys = [list(input_keys(i, item)) for i, item in enumerate(chunk)]
        return map_batch(
            chunk,
            offset,
            response.status,
            response.body,
            input_keys=keys,
            result_keys=result_keys,
            correlation_id=header(response.headers, CORRELATION_HEADER),
        )

    parts = await asyncio.gather(
        *(one(offset, chunk) for offset, chunk in chunked(inputs, chunk_size)), return_exceptions=True
    )
    for part in parts:
        if isinstance(part, BaseException):
            raise part
    return BatchOutcome.combine(p for p in parts if isinstance(p, BatchOutcome))


def with_trace_ids(inputs: Sequence[JSON]) -> list[JSON]:
    """Every write input with an ``objectWriteTraceId`` (the caller's, or ``hubsync-<index>``),
    unique within the call so results can be matched back to inputs. The outcome reports these
    copies: the payload as sent."""
    traced = [
        item if item.get("objectWriteTraceId") else {**item, "objectWriteTraceId": f"hubsync-{i}"}
        for i, item in enumerate(inputs)
    ]
    ids = [str(item["objectWriteTraceId"]) for item in traced]
    if len(set(ids)) != len(ids):
        raise ValueError("objectWriteTraceId values must be unique within one batch call")
    return traced
