"""Mapping batch answers back to inputs (pure; the sandbox tests cover the real answers)."""

from __future__ import annotations

from typing import Any

import pytest

from hubsync.connectors.hubspot.http.batch import BatchOutcome, chunked, error_keys, map_batch, with_trace_ids


def by_id(result: Any) -> list[str]:
    return [str(result.get("id"))]


def test_chunks_keep_order_and_size() -> None:
    items = [{"n": i} for i in range(250)]
    chunks = chunked(items, 100)
    assert [(offset, len(chunk)) for offset, chunk in chunks] == [(0, 100), (100, 100), (200, 50)]
    assert [x for _, chunk in chunks for x in chunk] == items


def test_errors_name_inputs_by_ids_or_trace_id() -> None:
    assert error_keys({"context": {"ids": ["1", "2"]}}) == ["1", "2"]
    assert error_keys({"context": {"objectWriteTraceId": "t-1"}}) == ["t-1"]
    assert error_keys({"objectWriteTraceId": "t-2", "context": {}}) == ["t-2"]
    assert error_keys({"message": "x"}) == []


def test_global_indexes_duplicates_and_batch_error_statuses() -> None:
    inputs = [{"id": "7"}, {"id": "8"}, {"id": "7"}]
    body = {
        "results": [{"id": "7"}],
        "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": ["8"]}}],
    }
    outcome = map_batch(inputs, 100, 207, body, input_keys=[[i["id"]] for i in inputs], result_keys=by_id)
    assert [s.index for s in outcome.succeeded] == [100, 102]  # a duplicated id gets the one result
    assert [(f.index, f.status, f.category) for f in outcome.failed] == [(101, 404, "OBJECT_NOT_FOUND")]


def test_one_anonymous_error_fails_every_input_without_a_result() -> None:
    inputs = [{"k": "a"}, {"k": "b"}, {"k": "c"}]
    body = {"results": [{"id": "b"}], "errors": [{"category": "VALIDATION_ERROR", "message": "bad"}]}
    outcome = map_batch(inputs, 0, 207, body, input_keys=[[i["k"]] for i in inputs], result_keys=by_id)
    assert [s.index for s in outcome.succeeded] == [1]
    assert [(f.index, f.status, f.message) for f in outcome.failed] == [(0, 400, "bad"), (2, 400, "bad")]


def test_inputs_without_result_or_error_are_reported_missing() -> None:
    inputs = [{"k": "a"}, {"k": "b"}, {"k": "c"}]
    body = {"results": [], "errors": [{"category": "CONFLICT"}, {"category": "CONFLICT"}]}
    outcome = map_batch(inputs, 0, 207, body, input_keys=[[i["k"]] for i in inputs], result_keys=by_id)
    assert [(f.index, f.category) for f in outcome.failed] == [
        (0, "CONFLICT"),
        (1, "CONFLICT"),
        (2, "MISSING_RESULT"),
    ]


def test_combine_sorts_by_input_index() -> None:
    a = map_batch([{"k": "x"}], 5, 200, {"results": [{"id": "x"}]}, input_keys=[["x"]], result_keys=by_id)
    b = map_batch([{"k": "y"}], 0, 200, {"results": [{"id": "y"}]}, input_keys=[["y"]], result_keys=by_id)
    assert [s.index for s in BatchOutcome.combine([a, b]).succeeded] == [0, 5]


def test_trace_ids_are_added_and_must_be_unique() -> None:
    traced = with_trace_ids([{"properties": {}}, {"properties": {}, "objectWriteTraceId": "mine"}])
    assert [t["objectWriteTraceId"] for t in traced] == ["hubsync-0", "mine"]
    with pytest.raises(ValueError, match="unique"):
        with_trace_ids([{"objectWriteTraceId": "x"}, {"objectWriteTraceId": "x"}])
