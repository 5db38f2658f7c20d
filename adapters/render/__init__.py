"""Pure functions that turn an :class:`~adapters.base.AlertMessage` into each destination's format."""
