"""Connectors between hubsync and the outside: Kafka sinks now, the HubSpot sources later."""
