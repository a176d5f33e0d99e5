"""Timestamps (cached formatting) and JSON answers (orjson with a standard-library fallback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hubsync.sandbox.httpio import dump_json
from hubsync.sandbox.timefmt import MAX_MS, MIN_MS, iso_ms


@pytest.mark.parametrize(
    "ms", [0, 1, 999, 1000, -1, -999, -1000, -1001, 1_572_480_000_000, 1_572_480_017_883, MIN_MS, MAX_MS]
)
def test_iso_ms_matches_datetime_formatting(ms: int) -> None:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    expected = f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"
    assert iso_ms(ms) == expected and iso_ms(ms) == expected  # a cache hit answers the same


def test_dump_json_is_compact_utf8_and_falls_back_for_what_orjson_refuses() -> None:
    body = {"name": "Zoë", "n": 1, "nested": [True, None, 1.5]}
    assert dump_json(body) == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    huge = {"id": 2**70, 3: "int key"}
    assert json.loads(dump_json(huge)) == {"id": 2**70, "3": "int key"}
