"""PostgreSQL storage: schema migrations, default settings and mappings, connection pools."""
