"""The push agents: one per ``platform.*.changes`` topic, each a thin loop over
:class:`~hubsync.push.agent.PushProcessor` (needs HubSpot access)."""

from __future__ import annotations

from typing import Any

from hubsync.push.agent import PushProcessor
from hubsync.push.runtime import push_processor
from hubsync.streams.faust_app import AgentApp, consume_batches

#: platform-side changes per push batch: a few HubSpot batch requests of 100 records
PUSH_BATCH_MAX = 500


async def shared_push_processor(app: AgentApp) -> PushProcessor:
    """The app's one push processor (opened on first use). Its HubSpot clients (one per portal)
    are the process's rate limiters and fair share, so other components of the process (the poller
    of ``hubsync run``) call HubSpot through them too."""
    return await app.resources.get(
        "push", lambda: push_processor(app.settings, app.codec, registry=app.registry)
    )


def add_push_agents(app: AgentApp) -> None:
    """One push agent per ``platform.*.changes`` topic; they share one processor."""
    settings = app.settings
    within = settings.ingest_batch_wait_ms / 1000
    for topic_name in (settings.topics.platform_contacts, settings.topics.platform_accounts):
        topic = app.topic(topic_name, key_type=bytes, value_type=bytes)

        async def agent(stream: Any) -> None:
            pusher = await shared_push_processor(app)
            await consume_batches(stream, PUSH_BATCH_MAX, within, pusher.process)

        app.agent(topic, name=f"push-{topic_name}")(agent)
