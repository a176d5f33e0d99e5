"""Ingest: HubSpot change events into the platform's PostgreSQL state."""
