"""Floor 2, the core: alerts, routing, noise, outbox, relay, config, runtime; may import adapters, storage."""
