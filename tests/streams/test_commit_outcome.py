"""What a failed offset commit of an ingest lane means, by librdkafka error: the batch left to the
partitions' new owner, the commit asked again, or the lane failed (its batch uncommitted)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from hubsync.streams.batch_consumer import (
    COMMIT_RETRY,
    COMMIT_RETRY_FOR_S,
    BatchConsumerConfig,
    CommitOutcome,
    commit_outcome,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # the partitions are another member's now: it applies the batch again
        (KafkaError.UNKNOWN_MEMBER_ID, "lost"),
        (KafkaError.ILLEGAL_GENERATION, "lost"),
        (KafkaError.REBALANCE_IN_PROGRESS, "lost"),
        (KafkaError._ASSIGNMENT_LOST, "lost"),
        (KafkaError._STATE, "lost"),
        # the coordinator moving or loading, a request or connection lost: ask again
        (KafkaError.COORDINATOR_LOAD_IN_PROGRESS, "retry"),
        (KafkaError.COORDINATOR_NOT_AVAILABLE, "retry"),
        (KafkaError.NOT_COORDINATOR, "retry"),
        (KafkaError.REQUEST_TIMED_OUT, "retry"),
        (KafkaError.NETWORK_EXCEPTION, "retry"),
        (KafkaError._WAIT_COORD, "retry"),
        (KafkaError._TIMED_OUT, "retry"),
        (KafkaError._TRANSPORT, "retry"),
        (KafkaError._ALL_BROKERS_DOWN, "retry"),
        # no retry fixes these: the lane fails and the worker stops, the batch uncommitted
        (KafkaError.GROUP_AUTHORIZATION_FAILED, "fail"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, "fail"),
        (KafkaError.OFFSET_METADATA_TOO_LARGE, "fail"),
        (KafkaError._INVALID_ARG, "fail"),
    ],
)
def test_a_failed_commit_is_classified_by_its_error(code: int, expected: CommitOutcome) -> None:
    assert commit_outcome(KafkaError(code)) == expected


def test_an_error_librdkafka_marks_retriable_is_retried_and_a_fatal_one_fails() -> None:
    assert commit_outcome(KafkaError(KafkaError.UNKNOWN, retriable=True)) == "retry"
    assert commit_outcome(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, fatal=True)) == "fail"


def test_a_commit_is_retried_several_times_well_within_the_poll_interval() -> None:
    """Retries end long before ``max.poll.interval.ms`` would cost the lane its group membership."""
    poll_interval = BatchConsumerConfig(
        group="g", topics=("t",), batch_max=1, batch_wait_s=0.1
    ).max_poll_interval_s
    assert poll_interval / 5 >= COMMIT_RETRY_FOR_S
    attempts, waited = 0, 0.0
    while waited + COMMIT_RETRY(attempts + 1) <= COMMIT_RETRY_FOR_S:
        attempts += 1
        waited += COMMIT_RETRY(attempts)
    assert attempts >= 10
