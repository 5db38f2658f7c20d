"""Placeholder replaced by the CLI."""


def main() -> None:
    raise SystemExit("stockbot CLI not built yet")
