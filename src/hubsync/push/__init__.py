"""Push path: outbox relay, push agent and error log."""
