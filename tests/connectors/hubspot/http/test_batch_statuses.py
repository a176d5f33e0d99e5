"""A record that fails inside a 207 keeps both statuses and a correlation id."""

from __future__ import annotations

from hubsync.connectors.hubspot.http.batch import map_batch
from hubsync.connectors.hubspot.http.errors import HubSpotErrorDetails

INPUTS = [{"id": "1", "objectWriteTraceId": "t1"}, {"id": "2", "objectWriteTraceId": "t2"}]
KEYS = [["t1"], ["t2"]]


def _result_keys(result: object) -> list[str]:
    return [str(result.get("objectWriteTraceId"))] if isinstance(result, dict) else []


def test_a_partial_batch_failure_keeps_the_207_the_record_status_and_the_header_correlation_id() -> None:
    body = {
        "status": "COMPLETE",
        "results": [{"id": "1", "objectWriteTraceId": "t1"}],
        "errors": [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Property values were not valid",
                "context": {"objectWriteTraceId": ["t2"]},
            }
        ],
    }
    outcome = map_batch(
        INPUTS, 0, 207, body, input_keys=KEYS, result_keys=_result_keys, correlation_id="corr-from-header"
    )
    (failure,) = outcome.failed
    assert failure.index == 1
    assert failure.status == 400  # the record's own status, from its category
    assert failure.details.received_status == 207
    assert failure.correlation_id == "corr-from-header"
    assert "HTTP 400" in failure.details.describe() and "207" in failure.details.describe()


def test_an_error_body_correlation_id_wins_over_the_header() -> None:
    details = HubSpotErrorDetails.from_body(
        409, {"category": "CONFLICT", "correlationId": "from-body"}, correlation_header="from-header"
    )
    assert details.correlation_id == "from-body"
    assert details.received_status == 409 and details.http_status is None
    assert HubSpotErrorDetails.from_body(500, {}, correlation_header="h").correlation_id == "h"
