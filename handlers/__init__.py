"""Floor 4, every way in: events API, Slack, Teams, the aiohttp app, cli/; may import every floor below."""
