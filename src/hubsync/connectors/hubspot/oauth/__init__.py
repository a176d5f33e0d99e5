"""HubSpot's OAuth for public apps: installs, token exchange and refresh (docs/portals.md)."""
