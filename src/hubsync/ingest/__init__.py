"""Ingest: HubSpot change events into the platform's PostgreSQL state.

:mod:`~hubsync.ingest.agents` adds the ingest agents to the worker's Faust app; each hands its
batches to :class:`~hubsync.ingest.processor.IngestProcessor` (decode, apply in one transaction,
publish ``crm.*``), which applies them with :func:`~hubsync.ingest.apply.apply_batch` over the
pure reducer (:mod:`~hubsync.ingest.reducer`). Duplicate flagging and prospect marking are
:mod:`hubsync.matching`'s, autofill/overwrite :mod:`hubsync.mapping`'s.
"""
