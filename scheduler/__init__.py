"""Floor 3, APScheduler sweeps: batch check, escalations, feed watchdog; may import bot, adapters, storage."""
