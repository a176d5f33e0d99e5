"""What every page shares: the navigation, the portal list, rendering with the session's context,
and the answer after a form (a 303 with a one-time notice)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubsync.console.sessions import Session
from hubsync.console.web import CONSOLE, SESSION, Console, see_other, take_flash

NAV = (
    ("/", "Overview"),
    ("/settings", "Settings"),
    ("/mappings", "Field mapping"),
    ("/errors", "Error log"),
    ("/duplicates", "Duplicates"),
    ("/records", "Records"),
)


def portals(conn: Any) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT portal_id, hub_domain, status FROM hubsync.portals"
        " WHERE status <> 'removed' ORDER BY portal_id"
    ).fetchall()
    return [{"id": int(p), "domain": d, "status": s} for p, d, s in rows]


async def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    console: Console = request.app[CONSOLE]
    session: Session = request[SESSION]
    installed = await console.db(None, portals)
    response = web.Response(status=status, content_type="text/html")
    response.text = console.templates.get_template(template).render(
        session=session,
        csrf=console.signer.csrf_token(session),
        nav=NAV,
        path=request.path,
        portals=installed,
        current_portal=session.portal,
        notice=take_flash(request, response),
        **context,
    )
    return response


def done(request: web.Request, location: str, message: str) -> web.Response:
    response = see_other(location)
    request.app[CONSOLE].flash(response, message)
    return response


async def form_of(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
