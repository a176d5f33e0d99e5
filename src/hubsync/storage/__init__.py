"""PostgreSQL storage: schema migrations, default settings and mappings, connection pools, the
transactional outbox, and which database errors are worth retrying."""
