"""A local HubSpot CRM API (contacts, companies, properties, associations v4, webhooks) for tests,
benchmarks and ``hubsync demo``. HubSpot's published OpenAPI files are its reference."""
