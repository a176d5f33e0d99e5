"""The process's fair share of HubSpot requests across portals (hubsync.connectors.hubspot.http.fairness)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from hubsync.connectors.hubspot.http.client import HubSpotClient
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig
from hubsync.connectors.hubspot.http.fairness import FairShare
from hubsync.connectors.hubspot.http.ratelimit import Lane, portal_key
from hubsync.sandbox.config import SandboxConfig
from hubsync.sandbox.server import SeedSpec, ThreadedSandbox
from tests.connectors.hubspot.client_support import TOKEN


async def _order(share: FairShare, waiters: list[tuple[str, Lane, int]]) -> list[str]:
    """Queue ``waiters`` (portal, lane, weight) behind one held slot of capacity 1; the order served."""
    served: list[str] = []
    await share.acquire("holder")

    async def one(portal: str, lane: Lane, weight: int) -> None:
        async with share.slot(portal, lane, weight=weight):
            served.append(portal)
            await asyncio.sleep(0)

    tasks = []
    for portal, lane, weight in waiters:
        tasks.append(asyncio.create_task(one(portal, lane, weight)))
        await asyncio.sleep(0)  # queued in this order
    share.release()
    await asyncio.gather(*tasks)
    return served


def test_portals_take_turns_so_a_long_backfill_does_not_hold_up_a_small_portal() -> None:
    share = FairShare(1)
    waiters = [("big", Lane.BACKFILL, 1)] * 6 + [("small", Lane.BACKFILL, 1)] * 2
    served = asyncio.run(_order(share, waiters))
    assert served[:4] == ["big", "small", "big", "small"]
    assert served.count("big") == 6


def test_realtime_requests_of_any_portal_go_before_backfill_requests() -> None:
    share = FairShare(1)
    waiters = [("big", Lane.BACKFILL, 1)] * 4 + [("other", Lane.REALTIME, 1)] * 2
    served = asyncio.run(_order(share, waiters))
    assert served[:2] == ["other", "other"]


def test_a_portal_of_weight_two_gets_two_turns_to_one() -> None:
    share = FairShare(1)
    waiters = [("heavy", Lane.BACKFILL, 2)] * 6 + [("light", Lane.BACKFILL, 1)] * 3
    served = asyncio.run(_order(share, waiters))
    assert served == ["heavy", "heavy", "light", "heavy", "heavy", "light", "heavy", "heavy", "light"]


def test_capacity_bounds_the_requests_in_flight_and_a_cancelled_waiter_hands_its_turn_on() -> None:
    async def scenario() -> tuple[int, int]:
        share = FairShare(3)
        peak = 0
        gate = asyncio.Event()

        async def request(portal: str) -> None:
            nonlocal peak
            async with share.slot(portal):
                peak = max(peak, share.in_flight)
                await gate.wait()

        tasks = [asyncio.create_task(request(f"p{i % 4}")) for i in range(12)]
        await asyncio.sleep(0.01)
        assert share.in_flight == 3 and share.waiting() == 9
        tasks[-1].cancel()
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return peak, share.in_flight

    assert asyncio.run(scenario()) == (3, 0)


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        FairShare(0)


def test_the_clients_of_a_process_go_through_its_share() -> None:
    """Every request of a client configured with a share takes a slot of it (and gives it back)."""
    share = FairShare(2)
    with ThreadedSandbox(
        SandboxConfig(access_token=SecretStr(TOKEN)), seed=SeedSpec(contacts=3, companies=0)
    ) as sandbox:
        config = HubSpotClientConfig(
            access_token=SecretStr(TOKEN), base_url=sandbox.base_url, fair_share=share
        )

        async def read() -> int:
            async with HubSpotClient(config) as client:
                pages = await asyncio.gather(*(client.get_page("contacts", limit=10) for _ in range(5)))
                return sum(len(p.results) for p in pages)

        assert asyncio.run(read()) == 15
        assert share.granted(portal_key(sandbox.base_url, TOKEN)) == 5
    assert share.in_flight == 0
