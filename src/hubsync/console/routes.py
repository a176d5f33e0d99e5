"""Every route of the console, in one place."""

from __future__ import annotations

from aiohttp import web

from hubsync.console import pages, signin, triage


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", signin.login_get)
    app.router.add_post("/login", signin.login_post)
    app.router.add_post("/logout", signin.logout_post)
    app.router.add_get("/healthz", signin.healthz)
    app.router.add_post("/portal", signin.portal_post)
    app.router.add_get("/", pages.overview)
    app.router.add_get("/settings", pages.settings_get)
    app.router.add_post("/settings", pages.settings_post)
    app.router.add_get("/mappings", pages.mappings_get)
    app.router.add_post("/mappings", pages.mappings_post)
    app.router.add_get("/errors", triage.errors_get)
    app.router.add_get("/errors.csv", triage.errors_csv)
    app.router.add_post("/errors/retry", triage.errors_retry_matching)
    app.router.add_post(r"/errors/{error_id:\d{1,18}}/retry", triage.error_retry)
    app.router.add_get("/duplicates", triage.duplicates_get)
    app.router.add_post("/duplicates/dismiss", triage.duplicate_dismiss)
    app.router.add_get("/records", pages.records_get)
    app.router.add_post("/records", pages.records_search)
    app.router.add_get(r"/records/{record_id:\d{1,18}}", pages.record_get)
