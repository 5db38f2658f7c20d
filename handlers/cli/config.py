"""``stockbot config``: check the config file."""

from __future__ import annotations

import typer

from stockbot.bot.config import Config
from stockbot.handlers.cli.common import (
    ConfigOption,
    config_from,
    redacted_url,
)

config_app = typer.Typer(help="The config file.", no_args_is_help=True)


@config_app.command("check")
def config_check(config_path: ConfigOption = None) -> None:
    """Validate the config and summarise it (secrets are never printed)."""
    from stockbot.bot.routing import channels_of, routes_of

    config = config_from(config_path)
    typer.echo(f"storage:  {redacted_url(config.storage.url)}")
    typer.echo(f"sources:  {', '.join(config.sources) or '(none: /events/* refuses every request)'}")
    _slack_summary(config)
    for name, channel in channels_of(config).items():
        typer.echo(f"channel:  {name} → {channel.adapter}:{channel.address}")
    for index, route in enumerate(routes_of(config)):
        match = {k: v for k, v in route.match.model_dump().items() if v}
        escalation = (
            f", escalate to {route.escalate_to} after {route.escalate_after}" if route.escalate_to else ""
        )
        typer.echo(f"route {index}:  {match or 'everything'} → {route.channels}{escalation}")
    typer.secho("config is valid", fg=typer.colors.GREEN)


def _slack_summary(config: Config) -> None:
    """Installed per workspace: the link to hand out, and the workspaces the config names."""
    from stockbot.adapters.slack import SlackSettings
    from stockbot.handlers.slack_install import install_url, redirect_url

    slack = config.adapter_settings.get("slack")
    if not isinstance(slack, SlackSettings) or not slack.distributed:
        return
    public = config.server.public_url
    typer.echo(f"slack:    installed per workspace from {install_url(slack, public)}")
    typer.echo(f"slack:    redirect URL (OAuth & Permissions) {redirect_url(slack, public)}")
    for team, workspace in slack.workspaces.items():
        typer.echo(f"slack:    workspace {team}{f' ({workspace.name})' if workspace.name else ''}")
