"""``stockbot teams``: the Teams app package, and the conversations stockbot was installed in."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from stockbot.bot.config import Config
from stockbot.handlers.cli.common import ConfigOption, config_from, fail, run

teams_app = typer.Typer(help="Microsoft Teams.", no_args_is_help=True)


def _app_id(config: Config) -> str:
    from stockbot.adapters.teams import TeamsSettings

    if config.teams is None:
        raise fail(
            "no [teams] section in the config: register the bot in Azure (Azure Bot resource) and put its "
            "app_id, app_password and tenant_id under [teams]; see README, Install into Microsoft Teams"
        )
    settings = config.settings_for("teams")
    assert isinstance(settings, TeamsSettings)
    if not settings.app_id:
        raise fail(
            "[teams] app_id is not set: use the Microsoft App ID of the Azure Bot "
            '(Azure Bot → Configuration), e.g. app_id = "${TEAMS_APP_ID}"'
        )
    return settings.app_id


def _host(config: Config, host: str | None) -> str:

    if host:
        return host
    public_url = config.server.public_url
    if not public_url:
        raise fail(
            "no host for the package: pass --host stockbot.example.com, or set [server] public_url "
            '= "https://stockbot.example.com" (where Teams reaches /api/messages)'
        )
    found = urlsplit(public_url if "://" in public_url else f"https://{public_url}").hostname
    if not found:
        raise fail(f"[server] public_url {public_url!r} has no host name; pass --host")
    return found


@teams_app.command("package")
def package(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Zip file or directory (default: ./stockbot-teams.zip)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Public host name (default: the host of [server] public_url).")
    ] = None,
    config_path: ConfigOption = None,
) -> None:
    """Write the app package that Teams' "Upload a custom app" accepts, with the app id and host filled in."""
    from stockbot.handlers.cli.teams_package import build_package

    config = config_from(config_path)
    app_id, public_host = _app_id(config), _host(config, host)
    try:
        path = build_package(app_id, public_host, output or Path.cwd())
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {path} (app {app_id.lower()}, host {public_host})")
    typer.echo("Upload it in Teams: Apps → Manage your apps → Upload an app → Upload a custom app.")


@teams_app.command("conversations")
def conversations(config_path: ConfigOption = None) -> None:
    """List the conversations stockbot is installed in, with the lines that send alerts to each."""
    from stockbot.adapters.render.teams_answers import channel_lines
    from stockbot.storage.db import create_engine, upgrade
    from stockbot.storage.teams import listing

    config = config_from(config_path)

    async def go() -> list[dict[str, Any]]:
        engine = create_engine(config.storage.url, pool_size=2)
        try:
            await upgrade(engine)
            return await listing(engine)
        finally:
            await engine.dispose()

    rows = run(go)
    if not rows:
        typer.echo(
            "stockbot is not installed in any Teams conversation yet: upload the app package "
            "(stockbot teams package) and add it to a team, a group chat or a personal chat"
        )
        return
    configured = {c.address: n for n, c in config.channels.items() if c.adapter == "teams"}
    for row in rows:
        conversation_id, scope, name = row["conversation_id"], row["scope"], row["name"]
        channel = configured.get(conversation_id)
        typer.echo(conversation_id)
        typer.echo(f"  scope {scope} · name {name or '-'} · installed {_when(row['installed_at'])}")
        if channel:
            typer.echo(f"  configured as [channels.{channel}]")
        else:
            typer.echo("  not configured yet; to send alerts here, add to stockbot.toml:")
            for line in channel_lines(conversation_id, name, scope).splitlines():
                typer.echo(f"    {line}")


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
