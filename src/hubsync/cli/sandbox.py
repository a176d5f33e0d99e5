"""``hubsync sandbox``: the local HubSpot CRM API as a standalone server."""

from __future__ import annotations

import asyncio
import contextlib

import typer
from pydantic import SecretStr

from hubsync.cli._common import console_err
from hubsync.sandbox.config import SandboxConfig


def sandbox_command(
    port: int = typer.Option(8090, "--port", "-p", help="TCP port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you mean it."),
    seed: int = typer.Option(0, "--seed", help="Seed this many contacts (and a tenth as many companies)."),
    companies: int | None = typer.Option(None, "--companies", help="Seed this many companies instead."),
    duplicate_share: float = typer.Option(0.05, "--duplicate-share", help="Share of seeded duplicates."),
    random_seed: int = typer.Option(42, "--random-seed", help="Seed of the data generator."),
    burst_limit: int = typer.Option(190, "--burst-limit", help="Requests per 10 s (HubSpot: 190)."),
    daily_limit: int = typer.Option(1_000_000, "--daily-limit", help="Requests per day."),
    search_per_second: int = typer.Option(5, "--search-per-second", help="Search requests per second."),
    webhook_url: str | None = typer.Option(None, "--webhook-url", help="Deliver change webhooks here."),
    webhook_secret: str | None = typer.Option(
        None,
        "--webhook-secret",
        envvar="HUBSPOT_WEBHOOK_SECRET",
        show_envvar=True,
        help="App secret that signs webhooks.",
    ),
    access_token: str | None = typer.Option(
        None,
        "--access-token",
        envvar="HUBSYNC_SANDBOX_ACCESS_TOKEN",
        show_envvar=True,
        help="Bearer token clients must send (default: any token).",
    ),
    oauth_client_id: str | None = typer.Option(
        None,
        "--oauth-client-id",
        envvar="HUBSPOT_CLIENT_ID",
        show_envvar=True,
        help="Serve HubSpot's OAuth for this public app (/oauth/authorize, /oauth/v1/token...).",
    ),
    oauth_client_secret: str | None = typer.Option(
        None,
        "--oauth-client-secret",
        envvar="HUBSPOT_CLIENT_SECRET",
        show_envvar=True,
        help="The app's secret.",
    ),
    oauth_token_ttl: float = typer.Option(
        1800.0, "--oauth-token-ttl", min=1, help="Access token lifetime (s)."
    ),
) -> None:
    """Serve a local HubSpot CRM API (contacts, companies, properties, associations v4, webhooks)
    that behaves like HubSpot, plus a control API under /_sandbox. Runs until interrupted."""
    if webhook_url and not webhook_secret:
        console_err.print(
            "[red]error:[/red] --webhook-url needs --webhook-secret (or HUBSPOT_WEBHOOK_SECRET)"
        )
        raise typer.Exit(2)
    if bool(oauth_client_id) != bool(oauth_client_secret):
        console_err.print("[red]error:[/red] --oauth-client-id and --oauth-client-secret go together")
        raise typer.Exit(2)
    from hubsync.sandbox.server import SeedSpec, serve_forever, start_sandbox  # aiohttp: only here

    config = SandboxConfig(
        oauth_client_id=oauth_client_id or None,
        oauth_client_secret=SecretStr(oauth_client_secret) if oauth_client_secret else None,
        oauth_access_token_ttl_s=oauth_token_ttl,
        access_token=SecretStr(access_token) if access_token else None,
        burst_limit=burst_limit,
        daily_limit=daily_limit,
        search_per_second=search_per_second,
        webhook_url=webhook_url,
        webhook_secret=SecretStr(webhook_secret) if webhook_secret else None,
    )
    spec = SeedSpec(contacts=seed, companies=companies, seed=random_seed, duplicate_share=duplicate_share)

    async def main() -> None:
        running = await start_sandbox(config, host=host, port=port, seed=spec)
        counts = running.state.store
        console_err.print(
            f"HubSpot sandbox on {running.base_url} "
            f"({counts.count('contact')} contacts, {counts.count('company')} companies)"
        )
        typer.echo(f"export HUBSPOT_BASE_URL={running.base_url}")
        await serve_forever(running)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
