"""Floor 1, Alembic's environment and the schema's revisions; may import only storage and adapters."""
