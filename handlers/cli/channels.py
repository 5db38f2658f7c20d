"""``stockbot channels``: the configured destinations, and a test alert through the outbox to one of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import select

from stockbot.adapters.base import AlertMessage
from stockbot.adapters.message import sample_message
from stockbot.bot.config import Config
from stockbot.bot.outbox import enqueue
from stockbot.bot.routing import channels_of
from stockbot.bot.runtime import Runtime
from stockbot.handlers.cli.common import ConfigOption, config_from, run
from stockbot.storage.tables import deliveries

channels_app = typer.Typer(help="Configured destinations.", no_args_is_help=True)


def test_message(now: datetime) -> AlertMessage:
    return sample_message(
        alert_id=0,
        event="test",
        sku="TEST-SKU",
        product_name="stockbot test alert (no action needed)",
        category="test",
        key_product=False,
        location="Test location",
        minimum=1,
        critical_level=None,
        severity="low",
        trigger="test",
        opened_at=now,
        updated_at=now,
        reason="sent by `stockbot channels test` to check this channel's settings",
        blocked_orders=(),
        last_source=None,
        last_changed_at=None,
        link=None,
    )


async def send_test(config: Config, name: str) -> tuple[bool, str]:
    channels = channels_of(config)
    if name not in channels:
        known = ", ".join(channels) or "none"
        return False, f"no channel called {name!r}; configured channels: {known}"
    runtime = await Runtime.create(config)
    try:
        now = datetime.now(UTC)
        async with runtime.engine.begin() as conn:
            queued = await enqueue(
                conn, {name: channels[name]}, [name], test_message(now), now, f"test-{now.timestamp():.6f}"
            )
            if not queued:
                return False, f"channel {name!r} ({channels[name].adapter}) takes no test messages"
            delivery_id = (
                await conn.execute(select(deliveries.c.id).order_by(deliveries.c.id.desc()).limit(1))
            ).scalar_one()
        await runtime.dispatcher.run_once(only=[delivery_id])
        async with runtime.engine.connect() as conn:
            row = (
                (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)))
                .mappings()
                .one()
            )
    finally:
        await runtime.stop()
    target = f"{channels[name].adapter}:{channels[name].address}"
    if row["status"] == "delivered":
        return (
            True,
            f"delivered to {target}; the platform's id for it: {row['external_id'] or '(none given)'}",
        )
    verdict = "will be retried by a running stockbot" if row["status"] == "pending" else "failed for good"
    return False, f"not delivered to {target} ({verdict}): {row['last_error']}"


@channels_app.command("list")
def channels_list(config_path: ConfigOption = None) -> None:
    """List configured channels."""
    from stockbot.bot.routing import channels_of

    for name, channel in channels_of(config_from(config_path)).items():
        typer.echo(f"{name:<20} {channel.adapter:<14} {channel.address}")


@channels_app.command("test")
def channels_test(
    name: Annotated[str, typer.Argument(help="A [channels.NAME] from the config.")],
    config_path: ConfigOption = None,
) -> None:
    """Send a test alert to one channel through the outbox and print what came back."""
    config = config_from(config_path)
    ok, report = run(lambda: send_test(config, name))
    typer.secho(report, fg=typer.colors.GREEN if ok else typer.colors.RED)
    if not ok:
        raise typer.Exit(1)
