"""The Kafka side of hubsync: topic contracts and administration, the idempotent producer, the
DLQ, decoding consumed messages, the batch-consumer skeleton the processors share
(:mod:`~hubsync.streams.consumer`), and the Faust app the agents are added to
(:mod:`~hubsync.streams.faust_app`)."""
