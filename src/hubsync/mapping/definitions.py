"""The cache of HubSpot property definitions (``hubsync.property_definitions``).

Conversion and validation (:func:`~hubsync.mapping.values.to_hubspot`) need each property's type
and options. They are fetched from HubSpot's properties API by :func:`refresh_definitions` (at
the start of ``hubsync worker`` and ``hubsync run``, every portal's by
:func:`refresh_portal_definitions`) and read from the cache by :func:`load_definitions` on every
ingest batch, so ingest (and ``hubsync replay``) never calls HubSpot for them.

Sync or async: the ingest agents hold a **synchronous** psycopg connection for their transaction,
so :func:`load_definitions` and :func:`store_definitions` are synchronous and join the caller's
transaction. :func:`refresh_definitions` is ``async`` because the HubSpot client is; it writes
through the same synchronous :func:`store_definitions`, run in a worker thread
(``asyncio.to_thread``) so the event loop is never blocked on PostgreSQL. It takes a sync
connection or a sync pool; with a pool it borrows a connection for the write only, after the
HTTP call, so no database connection is held while waiting on HubSpot.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import abc
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.oauth.clients import ClientsByPortal
from hubsync.mapping.values import PropertyDefinition
from hubsync.records.kinds import HUBSPOT_TYPES, ObjectKind
from hubsync.storage.portal_scope import enter_portal

log = logging.getLogger(__name__)


def load_definitions(conn: psycopg.Connection[Any], object_type: ObjectKind) -> dict[str, PropertyDefinition]:
    """The cached definitions of ``object_type`` by property name. A cached definition that does
    not parse (a property type hubsync does not know) is left out with a warning: values for it
    are then rejected as having no definition instead of being written unchecked."""
    rows = conn.execute(
        "SELECT name, definition FROM hubsync.property_definitions WHERE object_type = %s ORDER BY name",
        (object_type,),
    ).fetchall()
    definitions: dict[str, PropertyDefinition] = {}
    for name, body in rows:
        try:
            definitions[name] = PropertyDefinition.from_hubspot(body)
        except ValueError as exc:
            log.warning("skipping cached HubSpot property definition %s.%s: %s", object_type, name, exc)
    return definitions


def store_definitions(
    conn: psycopg.Connection[Any],
    object_type: ObjectKind,
    bodies: abc.Iterable[abc.Mapping[str, Any]],
    *,
    replace: bool = False,
) -> int:
    """Upsert HubSpot property JSON bodies (``GET /crm/v3/properties/{type}`` results) into the
    cache, in one statement, inside a transaction (a savepoint within the caller's). With
    ``replace``, cached definitions of ``object_type`` not among ``bodies`` are deleted (a full
    refresh: a property deleted in HubSpot stops being written). Returns how many were stored.
    """
    by_name: dict[str, abc.Mapping[str, Any]] = {}
    for body in bodies:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"HubSpot property JSON without a name: {dict(body)!r:.200}")
        by_name[name] = body
    names = sorted(by_name)
    with conn.transaction(), conn.cursor() as cur:
        if names:
            cur.execute(
                "INSERT INTO hubsync.property_definitions (object_type, name, definition, fetched_at)"
                " SELECT %s, t.name, t.definition, now()"
                " FROM unnest(%s::text[], %s::jsonb[]) AS t(name, definition)"
                " ON CONFLICT (portal_id, object_type, name)"
                " DO UPDATE SET definition = EXCLUDED.definition, fetched_at = EXCLUDED.fetched_at",
                (object_type, names, [Jsonb(dict(by_name[n])) for n in names]),
            )
        if replace:
            cur.execute(
                "DELETE FROM hubsync.property_definitions WHERE object_type = %s AND NOT (name = ANY(%s))",
                (object_type, names),
            )
    return len(names)


async def refresh_definitions(
    pool_or_conn: ConnectionPool[Any] | psycopg.Connection[Any],
    client: HubSpotClient,
    object_type: ObjectKind,
    *,
    portal: int | None = None,
) -> int:
    """Fetch every property definition of ``object_type`` from HubSpot and replace the cache with
    them (``store_definitions(..., replace=True)``); returns how many were stored. A connection
    is committed by the call unless it is already in a transaction (then it joins as a savepoint).
    ``portal``: the cache of that portal, whose client ``client`` is (None: the connection's own);
    it is entered for the rest of the write's transaction.
    """
    bodies = await client.get_properties(HUBSPOT_TYPES[object_type])
    return await asyncio.to_thread(_store, pool_or_conn, object_type, bodies, portal)


def _store(
    pool_or_conn: ConnectionPool[Any] | psycopg.Connection[Any],
    object_type: ObjectKind,
    bodies: abc.Sequence[abc.Mapping[str, Any]],
    portal: int | None,
) -> int:
    if isinstance(pool_or_conn, ConnectionPool):
        with pool_or_conn.connection() as conn:
            return _store(conn, object_type, bodies, portal)
    if portal is not None:
        enter_portal(pool_or_conn, portal)
    return store_definitions(pool_or_conn, object_type, bodies, replace=True)


#: portals whose definitions are fetched at once (each paced by its own client's rate limit)
REFRESH_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class PortalRefresh:
    """One portal's refresh: how many definitions were stored, or why none were."""

    portal: int | None
    stored: int = 0
    error: str | None = None


async def refresh_portal_definitions(
    pool: ConnectionPool[Any], clients: ClientsByPortal, *, concurrency: int = REFRESH_CONCURRENCY
) -> list[PortalRefresh]:
    """Refresh the cache of every portal ``clients`` works for (the public app's active installs,
    or the private app's one portal), each through its own client into its own cache,
    ``concurrency`` portals at once. A portal that fails (its token revoked, HubSpot down for it)
    is reported in its :class:`PortalRefresh`; the others go on."""
    limit = asyncio.Semaphore(concurrency)

    async def one(portal: int | None) -> PortalRefresh:
        async with limit:
            stored = 0
            try:
                for kind in ("contact", "account"):
                    stored += await refresh_definitions(pool, clients.client(portal), kind, portal=portal)
            except Exception as exc:  # reported per portal, the others go on
                return PortalRefresh(portal, stored, f"{type(exc).__name__}: {exc}")
            return PortalRefresh(portal, stored)

    return list(await asyncio.gather(*(one(p) for p in await clients.portals())))


@functools.cache
def builtin_definitions(object_type: ObjectKind) -> dict[str, PropertyDefinition]:
    """HubSpot's default property definitions as a fresh portal has them (the sandbox's table).

    The fallback for a property the cache does not hold yet (the worker refreshes the cache from
    HubSpot at start; ``hubsync replay`` and a worker without HubSpot access use the cache only):
    the types and options of HubSpot's own properties do not change between portals. Custom
    properties have no fallback and are rejected until their definition is cached.
    """
    from hubsync.hubspot_model.properties import DEFAULT_PROPERTIES

    out: dict[str, PropertyDefinition] = {}
    for prop in DEFAULT_PROPERTIES["contact" if object_type == "contact" else "company"]:
        out[prop.name] = PropertyDefinition(
            name=prop.name,
            type="string" if prop.type == "phone_number" else prop.type,
            field_type=prop.field_type,
            options=() if prop.external_options else tuple(o.value for o in prop.options),
            option_labels=() if prop.external_options else tuple(o.label for o in prop.options),
            read_only=prop.read_only or prop.calculated,
        )
    return out


def effective_definitions(
    conn: psycopg.Connection[Any], object_type: ObjectKind
) -> dict[str, PropertyDefinition]:
    """The cached definitions over :func:`builtin_definitions`: what conversion uses."""
    return {**builtin_definitions(object_type), **load_definitions(conn, object_type)}
