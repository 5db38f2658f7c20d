"""``stockbot alerts``: list and look at alerts with their audit history, and resolve one by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from stockbot.handlers.cli.common import ConfigOption, config_from, engine_for, fail, run

alerts_app = typer.Typer(help="Alerts: list, show with their history, resolve by hand.", no_args_is_help=True)
STATES = ("open", "acknowledged", "escalated", "resolved", "unresolved")


@alerts_app.command("list")
def alerts_list(
    state: Annotated[
        str, typer.Option(help="open, acknowledged, escalated, resolved, or unresolved (the first three).")
    ] = "unresolved",
    sku: Annotated[str | None, typer.Option(help="Only this product (any case).")] = None,
    location: Annotated[str | None, typer.Option(help="Only this location (any case).")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    config_path: ConfigOption = None,
) -> None:
    """Show alerts, newest first."""
    from stockbot.storage.alerts import UNRESOLVED_STATES, listing
    from stockbot.storage.catalog import catalog_sku

    if state not in STATES:
        raise fail(f"--state {state!r}: choose one of {', '.join(STATES)}")
    states = UNRESOLVED_STATES if state == "unresolved" else (state,)
    config = config_from(config_path)

    async def go() -> list[Any]:
        engine = await engine_for(config)
        try:
            async with engine.connect() as conn:
                spelled = await catalog_sku(conn, sku) if sku is not None else None
                if sku is not None and spelled is None:
                    raise fail(
                        f"--sku {sku!r}: no such product in the catalog (see `stockbot catalog export`)"
                    )
                return await listing(conn, states=states, sku=spelled, location=location, limit=limit)
        finally:
            await engine.dispose()

    found = run(go)
    if not found:
        typer.echo(f"no {state} alerts" + (" matching" if sku or location else ""))
    for alert in found:
        typer.echo(_line(alert))


def _line(alert: Any) -> str:
    level = "?" if alert.on_hand is None else alert.on_hand
    who = [f"ack {alert.acknowledged_by}"] if alert.acknowledged_by else []
    if alert.escalation_step:
        who.append(f"level {alert.escalation_step}")
    if alert.flagged_by:
        who.append(f"flagged by {alert.flagged_by}")
    return (
        f"#{alert.id:<5} {alert.state:<12} {alert.severity:<8} {alert.sku} at {alert.location}  "
        f"{level}/{alert.minimum}  opened {_when(alert.opened_at)}" + (f"  ({', '.join(who)})" if who else "")
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


@alerts_app.command("show")
def alerts_show(
    alert_id: Annotated[int, typer.Argument(help="The alert's number (see `alerts list`).")],
    config_path: ConfigOption = None,
) -> None:
    """One alert: what it says now, and its audit history (who did what, when, and why)."""
    from stockbot.storage.alerts import load_alert
    from stockbot.storage.audit import history

    config = config_from(config_path)

    async def go() -> tuple[Any, list[dict[str, Any]]]:
        engine = await engine_for(config)
        try:
            async with engine.connect() as conn:
                alert = await load_alert(conn, alert_id, lock=False)
                if alert is None:
                    raise fail(f"there is no alert #{alert_id}; see `stockbot alerts list --state resolved`")
                return alert, await history(conn, alert_id)
        finally:
            await engine.dispose()

    alert, rows = run(go)
    typer.echo(_line(alert))
    for label, value in _facts(alert):
        typer.echo(f"  {label:<13} {value}")
    typer.echo("history:")
    for row in rows:
        typer.echo(f"  {_when(row['at'])}  {row['kind']:<22} {row['actor']:<24} {_detail(row['detail'])}")


def _facts(alert: Any) -> list[tuple[str, str]]:
    facts = [
        ("trigger", alert.trigger),
        ("reason", alert.reason),
        ("flagged by", alert.flagged_by),
        (
            "acknowledged",
            f"{alert.acknowledged_by} at {_when(alert.acknowledged_at)}" if alert.acknowledged_by else None,
        ),
        (
            "escalated",
            f"level {alert.escalation_step}: {alert.escalation_note}" if alert.escalation_step else None,
        ),
        ("snoozed until", _when(alert.snoozed_until) if alert.snoozed_until else None),
        ("next step", _when(alert.next_step_due_at) if alert.next_step_due_at else None),
        ("resolved", f"by {alert.resolved_by} at {_when(alert.resolved_at)}" if alert.resolved_at else None),
        ("resolved why", alert.resolved_note),
    ]
    return [(label, value) for label, value in facts if value]


def _detail(detail: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in detail.items() if value not in (None, "", []))


@alerts_app.command("resolve")
def alerts_resolve(
    alert_id: Annotated[int, typer.Argument(help="The alert's number (see `alerts list`).")],
    by: Annotated[str, typer.Option("--by", help="Who is resolving it (recorded in the audit log).")],
    reason: Annotated[str, typer.Option(help="Why, e.g. 'flagged by mistake' (recorded in the audit log).")],
    config_path: ConfigOption = None,
) -> None:
    """Close an alert by hand, whatever the level says; its cards say who resolved it and why."""
    from stockbot.bot.alerts import NotFound
    from stockbot.bot.permissions import Actor
    from stockbot.bot.runtime import Runtime
    from stockbot.bot.transitions import InvalidTransition

    if not reason.strip():
        raise fail("--reason: say why, e.g. --reason 'flagged by mistake'")
    config = config_from(config_path)

    async def go() -> str:
        runtime = await Runtime.create(config)
        try:
            actor = Actor(id=by, via="cli", name=by)
            outcome = await runtime.desk.resolve(alert_id, actor, reason.strip())
            await runtime.dispatcher.drain()
            alert = outcome.alert
            return f"alert #{alert.id} resolved by {by}: {alert.sku} at {alert.location} ({reason.strip()})"
        except (NotFound, InvalidTransition) as exc:
            raise fail(str(exc)) from None
        finally:
            await runtime.stop()

    typer.echo(run(go))
