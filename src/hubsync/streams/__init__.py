"""Kafka side of hubsync: topic contracts and administration (the Faust agents join later)."""
