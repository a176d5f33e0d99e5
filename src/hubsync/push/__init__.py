"""Push: platform-side changes into HubSpot.

The outbox relay (:mod:`~hubsync.push.relay`) publishes ``hubsync.outbox`` rows to
``platform.*.changes``; the push agents (:mod:`~hubsync.push.agents`, added to the worker's Faust
app) hand batches to :class:`~hubsync.push.agent.PushProcessor`, which plans each record
(:mod:`~hubsync.push.plan`, pure) and writes HubSpot through batch upsert/update; failures go to
the error log (:mod:`~hubsync.push.errors`) and ``hubsync.push.errors``.
"""
