"""The pages that show the sync and its settings: overview, settings, field mapping, records."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from hubsync.console import actions, queries
from hubsync.console.overview import live_state
from hubsync.console.rendering import done, form_of, render
from hubsync.console.web import CONSOLE, SESSION, admin_only
from hubsync.errors import RejectedRequestError
from hubsync.platform.errors import PlatformWriteError
from hubsync.platform.settings import get_settings, mapping_rollout
from hubsync.platform.views import activity, find_kind, record_view
from hubsync.status import database_status


async def overview(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = request[SESSION]

    def read(conn: Any) -> dict[str, Any]:
        data = database_status(conn)
        row = conn.execute("SELECT max(received_at) FROM hubsync.webhook_dedupe").fetchone()
        data["last_webhook"] = row[0] if row else None
        return data

    db, live = await asyncio.gather(console.db(session, read), live_state(console.config, console.http))
    return await render(request, "overview.html", db=db, live=live)


# ---- settings and mappings ----------------------------------------------------------------------


async def settings_get(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]

    def read(conn: Any) -> tuple[Any, Any]:
        return get_settings(conn), mapping_rollout(conn)

    settings, rollout = await console.db(request[SESSION], read)
    return await render(request, "settings.html", sync=settings.sync, rollout=rollout)


@admin_only
async def settings_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await form_of(request)
    changes = {
        "push.enabled": "true" if form.get("push_enabled") == "on" else "false",
        "push.scope": form.get("push_scope", ""),
    }
    try:
        await console.db(request[SESSION], lambda conn: actions.update_settings(conn, changes))
    except (RejectedRequestError, PlatformWriteError) as exc:
        return done(request, "/settings", f"Not saved: {exc}")
    return done(request, "/settings", "Settings saved: the push agent applies them to its next batch.")


async def mappings_get(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]

    def read(conn: Any) -> tuple[Any, Any]:
        return queries.mapping_rows(conn), mapping_rollout(conn)

    rows, rollout = await console.db(request[SESSION], read)
    return await render(request, "mappings.html", rows=rows, rollout=rollout)


@admin_only
async def mappings_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await form_of(request)
    key = f"mapping.{form.get('object_type', '')}.{form.get('property', '').strip()}"
    try:
        await console.db(
            request[SESSION], lambda conn: actions.update_settings(conn, {key: form.get("mode", "")})
        )
    except (RejectedRequestError, PlatformWriteError) as exc:
        return done(request, "/mappings", f"Not saved: {exc}")
    return done(request, "/mappings", f"Saved {key} = {form.get('mode')}; workers apply it within seconds.")


# ---- records -----------------------------------------------------------------------------------


async def records_get(request: web.Request) -> web.StreamResponse:
    return await render(
        request, "records.html", results=None, field="email", text="", fields=queries.SEARCH_FIELDS
    )


async def records_search(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await form_of(request)
    field, text = form.get("field", "email"), form.get("q", "")
    try:
        results = await console.db(request[SESSION], lambda conn: queries.search_records(conn, field, text))
    except queries.FilterError as exc:
        return await render(
            request,
            "records.html",
            status=400,
            results=None,
            field=field,
            text=text,
            fields=queries.SEARCH_FIELDS,
            error=str(exc),
        )
    return await render(
        request, "records.html", results=results, field=field, text=text, fields=queries.SEARCH_FIELDS
    )


async def record_get(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    record_id = int(request.match_info["record_id"])

    def read(conn: Any) -> dict[str, Any]:
        kind = find_kind(conn, record_id)
        view = record_view(conn, record_id)
        view["activity"] = activity(conn, record_id, 200)
        view["lineage"] = queries.field_lineage(conn, kind, record_id)
        return view

    try:
        view = await console.db(request[SESSION], read)
    except PlatformWriteError:
        raise web.HTTPNotFound(text=f"no record {record_id} in this portal") from None
    return await render(request, "record.html", view=view)
