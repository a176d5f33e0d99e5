"""hubsync: event-driven sync between HubSpot and a prospecting platform's PostgreSQL database."""

__version__ = "0.1.0"
