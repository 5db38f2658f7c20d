"""Floor 1, pure functions from an AlertMessage to each destination's format; may import only adapters."""
