"""Floor 1, the database: schema, migrations, queries, group commit; may import only storage and adapters."""
