"""The HubSpot CRM API client hubsync's poller, webhook receiver and push agent use.

Typed calls over :class:`~hubsync.connectors.hubspot.http.requester.Requester` (pacing, retries,
metrics). Batch calls take any number of inputs: they are cut into chunks of at most 100, sent
concurrently within the portal's rate limit, and answered with a :class:`BatchOutcome` that
tells, per input and in input order, what HubSpot made of it.

Usage::

    config = HubSpotClientConfig.from_settings(settings)
    async with HubSpotClient(config, metrics=HubSpotClientMetrics.create()) as hubspot:
        page = await hubspot.get_page("contacts", properties=("email",))
        outcome = await hubspot.batch_upsert("companies", inputs, lane=Lane.REALTIME)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from hubsync.connectors.hubspot.http.batch import (
    JSON,
    BatchOutcome,
    BatchSuccess,
    send_in_chunks,
    with_trace_ids,
)
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.http.ratelimit import Lane, PortalLimits
from hubsync.connectors.hubspot.http.requester import Bucket, Requester
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.metrics import HubSpotClientMetrics

OBJECT_TYPES: tuple[HubSpotObjectType, ...] = ("contacts", "companies")

_OBJECTS = "/crm/v3/objects/{object_type}"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list or search; ``after`` is the cursor of the next page (None: last).
    ``total`` is search's total count (None for list pages)."""

    results: tuple[JSON, ...]
    after: str | None
    total: int | None = None


class HubSpotClient:
    """Async HubSpot CRM v3 client for contacts and companies. Use as an async context manager
    (or call :meth:`aclose`). Every call takes a ``lane``: webhook-driven work passes
    ``Lane.REALTIME`` and goes ahead of ``Lane.BACKFILL`` (the default) in the portal's bucket."""

    def __init__(
        self,
        config: HubSpotClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: HubSpotClientMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._requester = Requester(config, transport=transport, metrics=metrics, rng=rng)

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.config.base_url!r}, access_token=<redacted>)"

    async def __aenter__(self) -> HubSpotClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._requester.aclose()

    def limits(self) -> PortalLimits:
        """The portal's buckets this client shares with every client of the same portal in
        the running event loop (for status output and tests)."""
        return self._requester.limits()

    # ---- reads ----------------------------------------------------------------------------

    async def get_page(
        self,
        object_type: HubSpotObjectType,
        *,
        after: str | None = None,
        limit: int = 100,
        properties: Sequence[str] = (),
        archived: bool = False,
        properties_with_history: Sequence[str] = (),
        associations: Sequence[str] = (),
        lane: Lane = Lane.BACKFILL,
    ) -> Page:
        """One page of ``GET /crm/v3/objects/{type}`` (``limit`` <= 100)."""
        path = _OBJECTS.format(object_type=_checked(object_type))
        params: dict[str, Any] = {"limit": limit, "archived": "true" if archived else "false"}
        if after is not None:
            params["after"] = after
        for name, values in (
            ("properties", properties),
            ("propertiesWithHistory", properties_with_history),
            ("associations", associations),
        ):
            if values:
                params[name] = ",".join(values)
        response = await self._requester.request("GET", path, endpoint=path, params=params, lane=lane)
        return parse_page(response.body)

    async def search(
        self, object_type: HubSpotObjectType, body: Mapping[str, Any], *, lane: Lane = Lane.BACKFILL
    ) -> JSON:
        """``POST /crm/v3/objects/{type}/search`` with HubSpot's body (filterGroups, sorts,
        properties, limit <= 200, after); answers HubSpot's body (``total``, ``results``,
        ``paging``; :func:`parse_page` makes a :class:`Page` of it). Paced by the search limit,
        not the burst window."""
        path = f"{_OBJECTS.format(object_type=_checked(object_type))}/search"
        response = await self._requester.request(
            "POST", path, endpoint=path, json=dict(body), lane=lane, bucket=Bucket.SEARCH
        )
        return response.body or {}

    async def get_properties(
        self, object_type: HubSpotObjectType, *, lane: Lane = Lane.BACKFILL
    ) -> list[JSON]:
        """Every property definition of the object type."""
        path = f"/crm/v3/properties/{_checked(object_type)}"
        response = await self._requester.request("GET", path, endpoint=path, lane=lane)
        return list(parse_page(response.body).results)

    async def create_property(
        self, object_type: HubSpotObjectType, definition: Mapping[str, Any], *, lane: Lane = Lane.BACKFILL
    ) -> JSON:
        """Create a property (e.g. the unique-value ``hubsync_record_id``); 409 if it exists."""
        path = f"/crm/v3/properties/{_checked(object_type)}"
        response = await self._requester.request(
            "POST", path, endpoint=path, json=dict(definition), lane=lane, idempotent=False
        )
        return response.body or {}

    async def merge(
        self, object_type: HubSpotObjectType, primary_id: str, merged_id: str, *, lane: Lane = Lane.BACKFILL
    ) -> JSON:
        """Merge ``merged_id`` into ``primary_id`` (cannot be undone); answers the primary."""
        path = f"{_OBJECTS.format(object_type=_checked(object_type))}/merge"
        body = {"primaryObjectId": str(primary_id), "objectIdToMerge": str(merged_id)}
        response = await self._requester.request(
            "POST", path, endpoint=path, json=body, lane=lane, idempotent=False
        )
        return response.body or {}

    # ---- batches --------------------------------------------------------------------------

    async def batch_read(
        self,
        object_type: HubSpotObjectType,
        ids: Sequence[str],
        *,
        properties: Sequence[str] = (),
        id_property: str | None = None,
        properties_with_history: Sequence[str] = (),
        archived: bool = False,
        lane: Lane = Lane.BACKFILL,
    ) -> BatchOutcome:
        """Read records by id (or by the unique ``id_property``); unknown ids fail with 404."""
        inputs = [{"id": str(i)} for i in ids]
        extra: dict[str, Any] = {"properties": list(properties)}
        if properties_with_history:
            extra["propertiesWithHistory"] = list(properties_with_history)
        if id_property:
            extra["idProperty"] = id_property

        def result_keys(result: JSON) -> list[str]:
            keys = [str(result.get("id"))]
            if id_property:
                value = (result.get("properties") or {}).get(id_property)
                keys += [str(value), str(value).lower()] if value is not None else []
            return keys

        return await self._batch(
            f"{_OBJECTS.format(object_type=_checked(object_type))}/batch/read",
            inputs,
            lambda chunk: {**extra, "inputs": list(chunk)},
            input_keys=lambda _i, item: [item["id"], item["id"].lower()] if id_property else [item["id"]],
            result_keys=result_keys,
            lane=lane,
            params={"archived": "true" if archived else "false"},
        )

    async def batch_create(
        self, object_type: HubSpotObjectType, inputs: Sequence[JSON], *, lane: Lane = Lane.BACKFILL
    ) -> BatchOutcome:
        """Create records (``{"properties": {...}, "associations": [...]}`` each). Not retried
        after an ambiguous timeout: prefer :meth:`batch_upsert` on a unique property where a
        duplicate would hurt (companies)."""
        return await self._write(object_type, "create", inputs, lane, idempotent=False)

    async def batch_update(
        self, object_type: HubSpotObjectType, inputs: Sequence[JSON], *, lane: Lane = Lane.BACKFILL
    ) -> BatchOutcome:
        """Update records (``{"id": ..., "properties": {...}}`` each, optional ``idProperty``)."""
        return await self._write(object_type, "update", inputs, lane, idempotent=True)

    async def batch_upsert(
        self, object_type: HubSpotObjectType, inputs: Sequence[JSON], *, lane: Lane = Lane.BACKFILL
    ) -> BatchOutcome:
        """Create or update by a unique property (``{"id": value, "idProperty": name,
        "properties": {...}}`` each); safe to retry."""
        return await self._write(object_type, "upsert", inputs, lane, idempotent=True)

    async def batch_archive(
        self, object_type: HubSpotObjectType, ids: Sequence[str], *, lane: Lane = Lane.BACKFILL
    ) -> BatchOutcome:
        """Archive records; HubSpot answers 204 without detail, so every input of a chunk that
        was accepted counts as succeeded (unknown ids included)."""
        return await self._batch(
            f"{_OBJECTS.format(object_type=_checked(object_type))}/batch/archive",
            [{"id": str(i)} for i in ids],
            lambda chunk: {"inputs": list(chunk)},
            input_keys=lambda _i, item: [item["id"]],
            result_keys=lambda result: [str(result.get("id"))],
            lane=lane,
        )

    async def associations_batch_read(
        self,
        from_type: HubSpotObjectType,
        to_type: HubSpotObjectType,
        ids: Sequence[str],
        *,
        lane: Lane = Lane.BACKFILL,
    ) -> BatchOutcome:
        """v4 associations of each ``from`` id: results ``{"from": {"id"}, "to": [{"toObjectId",
        "associationTypes"}]}``. An id without associations (HubSpot's per-input 404) succeeds
        with ``to: []``. Exempt from the burst limit (HubSpot's OpenAPI files)."""
        path = f"/crm/v4/associations/{_checked(from_type)}/{_checked(to_type)}/batch/read"
        outcome = await self._batch(
            path,
            [{"id": str(i)} for i in ids],
            lambda chunk: {"inputs": list(chunk)},
            input_keys=lambda _i, item: [item["id"]],
            result_keys=lambda result: [str((result.get("from") or {}).get("id"))],
            lane=lane,
            bucket=Bucket.NONE,
        )
        empty = [f for f in outcome.failed if f.status == 404]
        if not empty:
            return outcome
        found = [BatchSuccess(f.index, f.input, {"from": {"id": f.input["id"]}, "to": []}) for f in empty]
        return BatchOutcome.combine(
            [
                BatchOutcome(outcome.succeeded, tuple(f for f in outcome.failed if f.status != 404)),
                BatchOutcome(tuple(found)),
            ]
        )

    # ---- machinery ------------------------------------------------------------------------

    async def _write(
        self,
        object_type: HubSpotObjectType,
        action: str,
        inputs: Sequence[JSON],
        lane: Lane,
        *,
        idempotent: bool,
    ) -> BatchOutcome:
        traced = with_trace_ids(inputs)
        id_properties = {str(item["idProperty"]) for item in traced if item.get("idProperty")}

        def input_keys(_i: int, item: JSON) -> list[str]:
            keys = [str(item["objectWriteTraceId"])]
            return [*keys, str(item["id"])] if item.get("id") is not None else keys

        def result_keys(result: JSON) -> list[str]:
            keys = [str(result["objectWriteTraceId"])] if result.get("objectWriteTraceId") else []
            keys.append(str(result.get("id")))
            props = result.get("properties") or {}
            keys += [str(props[p]) for p in id_properties if props.get(p) is not None]
            return keys

        return await self._batch(
            f"{_OBJECTS.format(object_type=_checked(object_type))}/batch/{action}",
            traced,
            lambda chunk: {"inputs": list(chunk)},
            input_keys=input_keys,
            result_keys=result_keys,
            lane=lane,
            idempotent=idempotent,
        )

    async def _batch(
        self,
        path: str,
        inputs: Sequence[JSON],
        body_of: Callable[[Sequence[JSON]], dict[str, Any]],
        *,
        input_keys: Callable[[int, Any], Iterable[str]],
        result_keys: Callable[[JSON], Iterable[str]],
        lane: Lane,
        idempotent: bool = True,
        bucket: Bucket = Bucket.BURST,
        params: Mapping[str, Any] | None = None,
    ) -> BatchOutcome:
        return await send_in_chunks(
            self._requester,
            path,
            inputs,
            body_of,
            input_keys=input_keys,
            result_keys=result_keys,
            chunk_size=self.config.batch_size,
            lane=lane,
            idempotent=idempotent,
            bucket=bucket,
            params=params,
        )


def _checked(object_type: str) -> str:
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"object_type must be one of {OBJECT_TYPES}, got {object_type!r}")
    return object_type


def parse_page(body: Mapping[str, Any] | None) -> Page:
    """A list or search answer as a :class:`Page`."""
    body = body or {}
    results = body.get("results")
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    total = body.get("total")
    return Page(
        tuple(r for r in results if isinstance(r, Mapping)) if isinstance(results, list) else (),
        str(after) if after is not None else None,
        total if isinstance(total, int) else None,
    )
