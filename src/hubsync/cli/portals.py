"""``hubsync portals``: the HubSpot portals that installed the public app (docs/portals.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.table import Table

from hubsync.cli._common import EXIT_FAILURE, JsonOption, console, console_err, print_json
from hubsync.connectors.hubspot.oauth.client import OAuthAppConfig, OAuthClient
from hubsync.connectors.hubspot.oauth.runtime import portal_store
from hubsync.errors import HubsyncError
from hubsync.settings import load_settings
from hubsync.storage.portals import Portal, PortalStatus, PortalUnavailableError

app = typer.Typer(
    help="Portals that installed the public app: list, pause, resume, remove.", no_args_is_help=True
)


def _json(portal: Portal) -> dict[str, Any]:
    return {
        "portal_id": portal.portal_id,
        "hub_domain": portal.hub_domain,
        "status": portal.status,
        "reason": portal.status_reason,
        "scopes": list(portal.scopes),
        "access_token_expires_at": portal.access_expires_at,
        "refreshed_at": portal.refreshed_at,
        "installed_at": portal.installed_at,
    }


def _print(portals: list[Portal], json_output: bool) -> None:
    if json_output:
        print_json([_json(p) for p in portals])
        return
    table = Table("portal", "domain", "status", "why", "token refreshed", "installed")
    for p in portals:
        refreshed = p.refreshed_at.isoformat(timespec="seconds") if p.refreshed_at else "-"
        table.add_row(
            str(p.portal_id),
            p.hub_domain or "-",
            p.status,
            p.status_reason or "",
            refreshed,
            p.installed_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@app.command("list")
def list_command(json_output: bool = JsonOption) -> None:
    """Every portal, with its status and why (paused, revoked by HubSpot, removed)."""
    _print(asyncio.run(portal_store(load_settings()).list()), json_output)


@app.command("show")
def show_command(
    portal_id: int = typer.Argument(..., help="The portal (hub) id."), json_output: bool = JsonOption
) -> None:
    """One portal."""
    portal = asyncio.run(portal_store(load_settings()).get(portal_id))
    if portal is None:
        console_err.print(f"[red]error:[/red] portal {portal_id} has not installed the app")
        raise typer.Exit(EXIT_FAILURE)
    _print([portal], json_output)


def _set(
    portal_id: int, status: PortalStatus, reason: str | None, only_from: tuple[PortalStatus, ...]
) -> None:
    store = portal_store(load_settings())
    if asyncio.run(store.set_status(portal_id, status, reason, only_from=only_from)) is None:
        portal = asyncio.run(store.get(portal_id))
        state = "not installed" if portal is None else portal.status
        console_err.print(f"[red]error:[/red] portal {portal_id} is {state}: it must install the app again")
        raise typer.Exit(EXIT_FAILURE)
    console_err.print(f"portal {portal_id}: {status}")


@app.command("pause")
def pause_command(
    portal_id: int = typer.Argument(...),
    reason: str = typer.Option("paused by an operator", "--reason", help="Shown in `portals list`."),
) -> None:
    """Stop calling HubSpot for this portal (within 10 s); its tokens are kept."""
    _set(portal_id, "paused", reason, ("active", "paused"))


@app.command("resume")
def resume_command(portal_id: int = typer.Argument(...)) -> None:
    """Sync a paused portal again (a revoked or removed one must install the app again)."""
    _set(portal_id, "active", None, ("active", "paused"))


@app.command("remove")
def remove_command(portal_id: int = typer.Argument(...)) -> None:
    """Uninstall: revoke the refresh token at HubSpot and delete the tokens; the row stays as a record."""
    settings = load_settings()
    store = portal_store(settings)

    async def remove() -> str:
        tokens = await store.stored_tokens(portal_id)
        if tokens is not None:
            # whatever the status (a paused portal's grant is still valid at HubSpot)
            await OAuthClient(OAuthAppConfig.from_settings(settings)).revoke(tokens.refresh_token)
        if await store.set_status(portal_id, "removed", "removed by an operator") is None:
            raise PortalUnavailableError(portal_id, "not installed", None)
        return "refresh token revoked at HubSpot, tokens deleted" if tokens else "it had no tokens left"

    try:
        done = asyncio.run(remove())
    except HubsyncError as exc:
        console_err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    console_err.print(f"portal {portal_id}: removed ({done})")


@app.command("rotate-key")
def rotate_key_command() -> None:
    """Re-encrypt every stored token with the first key of HUBSYNC_TOKEN_KEYS (then drop the old key)."""
    changed = asyncio.run(portal_store(load_settings()).rotate_key())
    console_err.print(f"{changed} portal(s) re-encrypted")
