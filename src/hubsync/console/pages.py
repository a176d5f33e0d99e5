"""The console's pages: one handler per page or form, each a thin layer over :mod:`queries`,
:mod:`actions` and the CLI's own functions."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from hubsync.console import actions, queries
from hubsync.console.charts import sparkline
from hubsync.console.overview import live_state
from hubsync.console.sessions import LOGIN_COOKIE, Session
from hubsync.console.users import authenticate
from hubsync.console.web import CONSOLE, SESSION, Console, admin_only, flash, see_other, take_flash
from hubsync.errors import RejectedRequestError
from hubsync.matching.duplicates import open_duplicates
from hubsync.platform.errors import PlatformWriteError
from hubsync.platform.settings import get_settings, mapping_rollout
from hubsync.platform.views import activity, find_kind, record_view
from hubsync.status import database_status

NAV = (
    ("/", "Overview"),
    ("/settings", "Settings"),
    ("/mappings", "Field mapping"),
    ("/errors", "Error log"),
    ("/duplicates", "Duplicates"),
    ("/records", "Records"),
)


def _portals(conn: Any) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT portal_id, hub_domain, status FROM hubsync.portals"
        " WHERE status <> 'removed' ORDER BY portal_id"
    ).fetchall()
    return [{"id": int(p), "domain": d, "status": s} for p, d, s in rows]


async def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    console: Console = request.app[CONSOLE]
    session: Session = request[SESSION]
    portals = await console.db(None, _portals)
    response = web.Response(status=status, content_type="text/html")
    response.text = console.templates.get_template(template).render(
        session=session,
        csrf=console.signer.csrf_token(session),
        nav=NAV,
        path=request.path,
        portals=portals,
        current_portal=session.portal,
        notice=take_flash(request, response),
        **context,
    )
    return response


def _done(request: web.Request, location: str, message: str) -> web.Response:
    response = see_other(location)
    flash(response, message, secure=request.app[CONSOLE].config.secure_cookies)
    return response


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


# ---- sign-in -----------------------------------------------------------------------------------


async def login_page(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    console = request.app[CONSOLE]
    if console.config.auth == "proxy":
        return see_other("/")
    nonce = secrets.token_urlsafe(18)
    response = web.Response(status=status, content_type="text/html")
    response.text = console.templates.get_template("login.html").render(
        token=console.signer.login_token(nonce),
        error=error,
        session=None,
        nav=None,
        portals=[],
        current_portal=None,
        notice=None,
        csrf="",
    )
    console.set_login_nonce(response, nonce)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    return await login_page(request)


async def login_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
    if not console.signer.check_login_token(request.cookies.get(LOGIN_COOKIE), form.get("token")):
        return await login_page(request, error="The sign-in form expired: try again.", status=403)
    username, password = form.get("username", "").strip(), form.get("password", "")
    role = await console.db(None, lambda conn: authenticate(conn, username, password))
    if role is None:
        return await login_page(request, error="Wrong user name or password.", status=401)
    response = see_other("/")
    console.set_session(response, console.signer.new_session(username, role))
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    response = see_other("/login")
    console.clear_session(response)
    return response


async def healthz(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def portal_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
    portals = {p["id"] for p in await console.db(None, _portals)}
    try:
        chosen = int(form.get("portal", ""))
    except ValueError:
        chosen = -1
    if chosen not in portals:
        raise web.HTTPBadRequest(text="no such portal")
    response = see_other("/")
    console.set_session(response, request[SESSION].with_portal(chosen))
    return response


# ---- overview ----------------------------------------------------------------------------------


async def overview(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = request[SESSION]

    def read(conn: Any) -> dict[str, Any]:
        data = database_status(conn)
        row = conn.execute("SELECT max(received_at) FROM hubsync.webhook_dedupe").fetchone()
        data["last_webhook"] = row[0] if row else None
        return data

    db, live = await asyncio.gather(console.db(session, read), live_state(console.config, console.http))
    return await render(
        request,
        "overview.html",
        db=db,
        live=live,
        charts=[sparkline(s) for s in live.charts],
        series=live.charts,
        now=datetime.now(UTC),
        last_poll=None if live.last_poll_at is None else datetime.fromtimestamp(live.last_poll_at, UTC),
    )


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
    form = await _form(request)
    changes = {
        "push.enabled": "true" if form.get("push_enabled") == "on" else "false",
        "push.scope": form.get("push_scope", ""),
    }
    try:
        await console.db(request[SESSION], lambda conn: actions.update_settings(conn, changes))
    except (RejectedRequestError, PlatformWriteError) as exc:
        return _done(request, "/settings", f"Not saved: {exc}")
    return _done(request, "/settings", "Settings saved: the push agent applies them to its next batch.")


async def mappings_get(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]

    def read(conn: Any) -> tuple[Any, Any]:
        return queries.mapping_rows(conn), mapping_rollout(conn)

    rows, rollout = await console.db(request[SESSION], read)
    return await render(request, "mappings.html", rows=rows, rollout=rollout)


@admin_only
async def mappings_post(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
    key = f"mapping.{form.get('object_type', '')}.{form.get('property', '').strip()}"
    try:
        await console.db(
            request[SESSION], lambda conn: actions.update_settings(conn, {key: form.get("mode", "")})
        )
    except (RejectedRequestError, PlatformWriteError) as exc:
        return _done(request, "/mappings", f"Not saved: {exc}")
    return _done(request, "/mappings", f"Saved {key} = {form.get('mode')}; workers apply it within seconds.")


# ---- error log ---------------------------------------------------------------------------------


def _filter(request: web.Request, source: Any = None) -> queries.ErrorFilter:
    try:
        return queries.ErrorFilter.parse(source if source is not None else request.query)
    except queries.FilterError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def errors_get(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    flt = _filter(request)

    def read(conn: Any) -> tuple[Any, Any, Any]:
        return queries.errors_page(conn, flt), queries.error_categories(conn), queries.error_counts(conn)

    rows, categories, counts = await console.db(request[SESSION], read)
    return await render(
        request,
        "errors.html",
        rows=rows,
        flt=flt,
        categories=categories,
        counts=counts,
        statuses=queries.STATUS_FILTERS,
        query=urlencode(flt.query()),
        page_size=queries.PAGE_SIZE,
    )


@admin_only
async def error_retry(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    error_id = int(request.match_info["error_id"])
    form = await _form(request)
    back = "/errors?" + urlencode(_filter(request, form).query())
    try:
        outcome = await console.db(request[SESSION], lambda conn: actions.retry_error(conn, error_id))
    except RejectedRequestError as exc:
        return _done(request, back, str(exc))
    if outcome.queued:
        return _done(request, back, f"Error {error_id}: its record is queued for a push.")
    return _done(request, back, f"Error {error_id} is resolved already: nothing to retry.")


@admin_only
async def errors_retry_matching(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    flt = _filter(request, await _form(request))
    outcome = await console.db(request[SESSION], lambda conn: actions.retry_matching(conn, flt))
    return _done(
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
    return await render(request, "duplicates.html", rows=rows, kind=kind)


@admin_only
async def duplicate_dismiss(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
    try:
        kind = form["object_type"]
        a, b, signal = int(form["record_a"]), int(form["record_b"]), form["signal"]
        if kind not in ("contact", "account"):
            raise ValueError(kind)
    except (KeyError, ValueError):
        raise web.HTTPBadRequest(text="the form names no pair") from None
    user = request[SESSION].user
    try:
        await console.db(
            request[SESSION],
            lambda conn: actions.dismiss_duplicate(conn, kind, a, b, signal, user),  # type: ignore[arg-type]
        )
    except RejectedRequestError as exc:
        return _done(request, "/duplicates", str(exc))
    return _done(request, "/duplicates", f"Records {a} and {b} marked not a duplicate.")


# ---- records -----------------------------------------------------------------------------------


async def records_get(request: web.Request) -> web.StreamResponse:
    return await render(
        request, "records.html", results=None, field="email", text="", fields=queries.SEARCH_FIELDS
    )


async def records_search(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await _form(request)
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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_get)
    app.router.add_post("/login", login_post)
    app.router.add_post("/logout", logout_post)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/portal", portal_post)
    app.router.add_get("/", overview)
    app.router.add_get("/settings", settings_get)
    app.router.add_post("/settings", settings_post)
    app.router.add_get("/mappings", mappings_get)
    app.router.add_post("/mappings", mappings_post)
    app.router.add_get("/errors", errors_get)
    app.router.add_get("/errors.csv", errors_csv)
    app.router.add_post("/errors/retry", errors_retry_matching)
    app.router.add_post(r"/errors/{error_id:\d{1,18}}/retry", error_retry)
    app.router.add_get("/duplicates", duplicates_get)
    app.router.add_post("/duplicates/dismiss", duplicate_dismiss)
    app.router.add_get("/records", records_get)
    app.router.add_post("/records", records_search)
    app.router.add_get(r"/records/{record_id:\d{1,18}}", record_get)
