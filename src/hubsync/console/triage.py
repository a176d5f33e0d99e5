"""The pages where admins triage: the push error log (filter, retry, export) and potential
duplicates (compare, mark "not a duplicate")."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from hubsync.console import actions, queries
from hubsync.console.rendering import done, form_of, render
from hubsync.console.web import CONSOLE, SESSION, admin_only
from hubsync.errors import RejectedRequestError
from hubsync.matching.duplicates import open_duplicates


def _filter(request: web.Request, source: Any = None) -> queries.ErrorFilter:
    try:
        return queries.ErrorFilter.parse(source if source is not None else request.query)
    except queries.FilterError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def errors_get(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    flt = _filter(request)

    def read(conn: Any) -> tuple[Any, Any]:
        return queries.errors_page(conn, flt), queries.error_categories(conn)

    rows, categories = await console.db(request[SESSION], read)
    return await render(
        request,
        "errors.html",
        rows=rows,
        flt=flt,
        categories=categories,
        statuses=queries.STATUS_FILTERS,
        query=urlencode(flt.query()),
        page_size=queries.PAGE_SIZE,
    )


@admin_only
async def error_retry(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    error_id = int(request.match_info["error_id"])
    form = await form_of(request)
    back = "/errors?" + urlencode(_filter(request, form).query())
    try:
        outcome = await console.db(request[SESSION], lambda conn: actions.retry_error(conn, error_id))
    except RejectedRequestError as exc:
        return done(request, back, str(exc))
    if outcome.queued:
        return done(request, back, f"Error {error_id}: its record is queued for a push.")
    return done(request, back, f"Error {error_id} is resolved already: nothing to retry.")


@admin_only
async def errors_retry_matching(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    flt = _filter(request, await form_of(request))
    outcome = await console.db(request[SESSION], lambda conn: actions.retry_matching(conn, flt))
    return done(
        request,
        "/errors?" + urlencode(flt.query()),
        f"{outcome.queued} error(s) queued for a push"
        + (f"; {outcome.already_resolved} resolved meanwhile" if outcome.already_resolved else "")
        + ".",
    )


async def errors_csv(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    flt = _filter(request)

    def export(conn: Any) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        for row in queries.error_csv_rows(conn, flt):
            writer.writerow(row)
        return out.getvalue()

    text = await console.db(request[SESSION], export)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="hubsync-push-errors-{stamp}.csv"'},
    )


# ---- duplicates --------------------------------------------------------------------------------


async def duplicates_get(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    kind = request.query.get("object") or None
    if kind not in (None, "contact", "account"):
        raise web.HTTPBadRequest(text="object: contact or account")
    rows = await console.db(request[SESSION], lambda conn: open_duplicates(conn, kind, 100))  # type: ignore[arg-type]
    return await render(request, "duplicates.html", rows=pairs_of(rows), kind=kind)


def pairs_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per pair of records, with every signal that matched them (newest first)."""
    pairs: dict[tuple[str, int, int], dict[str, Any]] = {}
    for row in rows:
        key = (row["object_type"], row["record_a"]["id"], row["record_b"]["id"])
        if key in pairs:
            pairs[key]["signals"].append(row["signal"])
        else:
            pairs[key] = {**row, "signals": [row["signal"]]}
    return list(pairs.values())


@admin_only
async def duplicate_dismiss(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await form_of(request)
    try:
        kind = form["object_type"]
        a, b = int(form["record_a"]), int(form["record_b"])
        if kind not in ("contact", "account"):
            raise ValueError(kind)
    except (KeyError, ValueError):
        raise web.HTTPBadRequest(text="the form names no pair") from None
    user = request[SESSION].user
    try:
        await console.db(
            request[SESSION],
            lambda conn: actions.dismiss_duplicate(conn, kind, a, b, user),  # type: ignore[arg-type]
        )
    except RejectedRequestError as exc:
        return done(request, "/duplicates", str(exc))
    return done(request, "/duplicates", f"Records {a} and {b} marked not a duplicate.")
