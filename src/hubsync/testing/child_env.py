"""The environment of a ``hubsync`` process a test or benchmark starts: the caller's own, minus
every hubsync, HubSpot and Faust setting it happens to have (so only what the caller passes
configures the child), plus unbuffered, uncoloured, wide output for reading its log."""

from __future__ import annotations

import os
from collections.abc import Mapping

#: environment variables a child must not inherit (hubsync's settings, and Faust's ``BROKER_*``,
#: which Faust reads from the environment)
INHERITED_PREFIXES = ("HUBSYNC_", "HUBSPOT_", "BROKER_")
INHERITED_NAMES = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SCHEMA_REGISTRY_URL")


def child_env(settings: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(INHERITED_PREFIXES) and k not in INHERITED_NAMES
    }
    env.update(settings)
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="400")
    return env
