"""What happens to alerts: signals open and update them, people acknowledge, escalate, snooze and resolve.

Every change, its audit row and its deliveries are written in one transaction (the outbox). Chat front ends
and the CLI call :class:`AlertDesk`'s methods; they never touch alert rows themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.adapters.base import AlertMessage, BlockedOrder
from stockbot.adapters.message import duration_text
from stockbot.bot import transitions as t
from stockbot.bot.clock import Clock
from stockbot.bot.config import Config
from stockbot.bot.metrics import ALERT_CHANGES
from stockbot.bot.noise import hold_until
from stockbot.bot.outbox import enqueue
from stockbot.bot.permissions import SYSTEM, Actor, PermissionDenied, require
from stockbot.bot.refusals import refuse_action
from stockbot.bot.routing import Policy, channels_of, policy_for, waited
from stockbot.storage import alerts as store
from stockbot.storage.alerts import Alert, Level
from stockbot.storage.audit import append, audit_row
from stockbot.storage.folding import same

T = TypeVar("T")


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class Outcome:
    alert: Alert
    event: str
    message: AlertMessage


class Queued(list[int]):
    """The ids of the deliveries one transaction queued; ``changed`` says it changed an alert at all (a
    change no destination takes queues nothing, yet an App Home showing the alert is stale)."""

    changed: bool = False


class AlertDesk:
    def __init__(self, config: Config, engine: AsyncEngine, clock: Clock) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.channels = channels_of(config)
        self._listeners: list[Callable[[Sequence[int]], None]] = []
        # The ids of the deliveries each open transaction queued, by its connection (the writer's thread
        # and this loop each touch only their own connections' entries).
        self._queued: dict[AsyncConnection, Queued] = {}

    def on_outbox(self, listener: Callable[[Sequence[int]], None]) -> None:
        """Call ``listener`` right after a commit that changed alerts, with the ids of the deliveries it
        queued (possibly none): the dispatcher claims them at once instead of finding them at its next
        poll, and the Slack App Home marks itself stale."""
        self._listeners.append(listener)

    def outbox_written(self, ids: Sequence[int]) -> None:
        for listener in self._listeners:
            listener(ids)

    @contextmanager
    def collecting(self, conn: AsyncConnection) -> Iterator[Queued]:
        """Gather the ids of the deliveries queued in ``conn``'s transaction, for its owner to pass to
        :meth:`outbox_written` once it has committed, if it changed an alert (the ingest writer does, from
        its own thread)."""
        queued = Queued()
        self._queued[conn] = queued
        try:
            yield queued
        finally:
            del self._queued[conn]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction whose queued deliveries are handed to the dispatcher once it has committed."""
        async with self.engine.begin() as conn:
            with self.collecting(conn) as queued:
                yield conn
        if queued or queued.changed:
            self.outbox_written(queued)

    # --- what people do ---------------------------------------------------------------------------------
    async def acknowledge(self, alert_id: int, actor: Actor) -> Outcome:
        return await self._act(
            "acknowledge", alert_id, actor, lambda a, now: t.acknowledged(a, actor.display, now)
        )

    async def acknowledge_many(
        self, alert_ids: Sequence[int], actor: Actor
    ) -> tuple[list[Outcome], list[str]]:
        """A digest's "Acknowledge all": each alert in its own transaction; those already acknowledged,
        resolved or gone are reported, not failed. A refused permission stops at the first."""
        done: list[Outcome] = []
        skipped: list[str] = []
        for alert_id in alert_ids:
            try:
                done.append(await self.acknowledge(alert_id, actor))
            except (t.InvalidTransition, NotFound) as exc:
                skipped.append(str(exc))
        return done, skipped

    async def snooze(self, alert_id: int, actor: Actor, choice: str, tz_name: str = "UTC") -> Outcome:
        def change(alert: Alert, now: datetime) -> Alert:
            return t.snoozed(alert, actor.display, t.snooze_until(choice, now, tz_name), now)

        return await self._act("snooze", alert_id, actor, change)

    async def escalate(self, alert_id: int, actor: Actor, note: str | None = None) -> Outcome:
        return await self._act("escalate", alert_id, actor, None, note=note or "escalated by hand")

    async def resolve(self, alert_id: int, actor: Actor, reason: str | None = None) -> Outcome:
        """A manager closes an alert by hand, whatever the level (a mistaken alert): the cards say who
        resolved it and why, never "back in stock"."""
        note = reason or "resolved by hand"

        def change(alert: Alert, now: datetime) -> Alert:
            return replace(t.resolved(alert, actor.display, now, alert.on_hand), resolved_note=note)

        return await self._act("resolve", alert_id, actor, change)

    async def clear(self, sku: str, location: str | None, actor: Actor, reason: str | None) -> Outcome:
        """Warehouse staff take back a flag (``/oos clear``): the alert follows the system's level again,
        resolved when the level is not short, else open at the level's own severity."""
        await self._require("clear", actor, subject=sku)
        alert_id = None
        try:
            async with self.transaction() as conn:
                level = await self._flag_level(conn, sku, location)
                alert = await store.load_unresolved(conn, level.sku, level.location)
                alert_id = alert.id if alert else None
                outcome = await self._unflag(conn, alert, level, actor, reason or "flag cleared")
        except (NotFound, t.InvalidTransition) as exc:
            await self.refuse(actor, "clear", str(exc), alert_id=alert_id, subject=sku)
            raise
        return outcome

    async def _unflag(
        self, conn: AsyncConnection, alert: Alert | None, level: Level, actor: Actor, reason: str
    ) -> Outcome:
        if alert is None:
            raise NotFound(f"{level.sku} at {level.location} has no open alert: there is no flag to clear")
        if not alert.flagged_by:
            on_hand = "unknown" if level.on_hand is None else level.on_hand
            raise t.InvalidTransition(
                f"alert #{alert.id} was not flagged by hand: it follows the system's level ({on_hand} on "
                f"hand, minimum {level.minimum}); a manager can Resolve it"
            )
        now, why = self.clock.now(), {"reason": reason}
        severity = t.severity_for(level, level.on_hand, alert.blocked_orders)
        if severity is None:  # the level is not short: the flag was all there was
            new = replace(
                t.resolved(alert, actor.display, now, level.on_hand),
                flagged_by=None,
                reason=None,
                resolved_note=f"flag cleared: {reason}",
            )
            outcome = await self._record(
                conn, alert, new, level, "resolved", actor, kind="flag_cleared", why=why
            )
            await store.set_open_alert(conn, level.sku, level.location, None)
            return outcome
        trigger = "fulfillment_failed" if alert.blocked_orders else t.trigger_for(level.on_hand, False)
        new = replace(
            alert,
            severity=severity,
            trigger=trigger,
            on_hand=level.on_hand,
            flagged_by=None,
            reason=None,
            updated_at=now,
            version=alert.version + 1,
        )
        return await self._record(conn, alert, new, level, "updated", actor, kind="flag_cleared", why=why)

    async def flag(self, sku: str, location: str | None, actor: Actor, reason: str | None) -> Outcome:
        """Warehouse staff say a product is out, whatever the system's level says."""
        await self._require("flag", actor, subject=sku)
        try:
            async with self.transaction() as conn:
                level = await self._flag_level(conn, sku, location)
                outcome = await self.apply_signal(
                    conn, level, actor, manual_reason=reason or "flagged out of stock"
                )
                assert outcome is not None
        except NotFound as exc:
            await self.refuse(actor, "flag", str(exc), subject=sku)
            raise
        return outcome

    async def _flag_level(self, conn: AsyncConnection, sku: str, location: str | None) -> Level:
        """The level a person names, matched to the catalog's spelling ignoring ASCII case."""
        from stockbot.storage.catalog import catalog_sku, locations_of

        spelled = await catalog_sku(conn, sku)
        known = await locations_of(conn, spelled) if spelled else []
        if spelled is None or not known:
            raise NotFound(f"no product with SKU {sku!r} in the catalog; look it up with the stock command")
        sku = spelled
        if location is None:
            if len(known) > 1:
                raise NotFound(f"{sku} is stocked at {', '.join(known)}: say which location")
            location = known[0]
        matched = next((loc for loc in known if same(loc, location)), None)
        if matched is None:
            raise NotFound(f"{sku} has no location {location!r}; known: {', '.join(known)}")
        level = await store.load_level(conn, sku, matched, lock=True)
        assert level is not None
        return level

    # --- plumbing for people's actions ------------------------------------------------------------------
    async def _require(
        self, action: str, actor: Actor, alert_id: int | None = None, subject: str | None = None
    ) -> None:
        try:
            require(self.config.roles, action, actor)
        except PermissionDenied as denied:
            await self.refuse(actor, action, str(denied), alert_id=alert_id, subject=subject)
            raise

    async def refuse(
        self,
        actor: Actor,
        action: str,
        reason: str,
        *,
        alert_id: int | None = None,
        subject: str | None = None,
    ) -> None:
        """Audit an action not taken; front ends call it for clicks they cannot even read."""
        await refuse_action(
            self.engine, self.clock, actor.label, action, reason, alert_id=alert_id, subject=subject
        )

    async def current_message(self, alert_id: int) -> AlertMessage | None:
        """The alert as a message now (for a card that shows why a click was refused); None if gone."""
        async with self.engine.connect() as conn:
            alert = await store.load_alert(conn, alert_id, lock=False)
            level = await store.load_level(conn, alert.sku, alert.location) if alert else None
        if alert is None or level is None:
            return None
        return self.message(alert, level, "updated", SYSTEM)

    async def _act(
        self,
        action: str,
        alert_id: int,
        actor: Actor,
        change: Callable[[Alert, datetime], Alert] | None,
        note: str | None = None,
    ) -> Outcome:
        await self._require(action, actor, alert_id=alert_id)
        try:
            outcome = await self._change(action, alert_id, actor, change, note)
        except (t.InvalidTransition, NotFound) as exc:
            await self.refuse(actor, action, str(exc), alert_id=alert_id)
            raise
        return outcome

    async def _change(
        self,
        action: str,
        alert_id: int,
        actor: Actor,
        change: Callable[[Alert, datetime], Alert] | None,
        note: str | None,
    ) -> Outcome:
        async with self.transaction() as conn:
            alert = await store.load_alert(conn, alert_id)
            if alert is None:
                raise NotFound(f"there is no alert #{alert_id}")
            level = await store.load_level(conn, alert.sku, alert.location)
            assert level is not None
            if change is None:
                outcome = await self._escalate(conn, alert, level, actor, note or "")
            else:
                new = change(alert, self.clock.now())
                outcome = await self._record(conn, alert, new, level, action_event(action), actor)
                if new.state == "resolved":
                    await store.set_open_alert(conn, alert.sku, alert.location, None)
        return outcome

    # --- signals: events, the batch check, manual flags ---------------------------------------------------
    async def apply_signal(
        self,
        conn: AsyncConnection,
        level: Level,
        actor: Actor,
        *,
        source_said_out: bool = False,
        blocked: Sequence[BlockedOrder] = (),
        trigger: str | None = None,
        manual_reason: str | None = None,
    ) -> Outcome | None:
        """Open, update, reopen or resolve the alert for ``level`` (already at its new on-hand value)."""
        alert = await store.load_unresolved(conn, level.sku, level.location)
        orders = list(alert.blocked_orders) if alert else []
        for order in blocked:
            if all(o["order_id"] != order.order_id for o in orders):
                orders.append(order.__dict__)
        said_out = source_said_out or manual_reason is not None
        if alert and self._recovered(level) and not said_out and not blocked:
            new = t.resolved(alert, actor.display, self.clock.now(), level.on_hand)
            await store.set_open_alert(conn, level.sku, level.location, None)
            return await self._record(conn, alert, new, level, "resolved", actor)
        severity = t.severity_for(level, level.on_hand, orders, flagged=said_out)
        if trigger is None:
            trigger = (
                "manual"
                if manual_reason
                else ("fulfillment_failed" if blocked else t.trigger_for(level.on_hand, source_said_out))
            )
        if alert is None:
            if severity is None:
                return None
            return await self._open(conn, level, severity, trigger, orders, actor, manual_reason)
        refreshed = t.refreshed(alert, level, severity or alert.severity, trigger, self.clock.now(), orders)
        if refreshed is None and manual_reason is None:
            return None
        new = refreshed or replace(alert, updated_at=self.clock.now(), version=alert.version + 1)
        if manual_reason:
            new = replace(new, reason=manual_reason, trigger="manual", flagged_by=actor.display)
        if t.SEVERITY_RANK[new.severity] > t.SEVERITY_RANK[alert.severity]:
            outcome = await self._worsened(conn, alert, new, level, actor)
        else:
            outcome = await self._record(conn, alert, new, level, "updated", actor)
        return await self._jump_if_urgent(conn, alert, outcome.alert, level) or outcome

    async def _worsened(
        self, conn: AsyncConnection, alert: Alert, new: Alert, level: Level, actor: Actor
    ) -> Outcome:
        """A worse severity is news, not just an edit: every card gets a thread reply (``worsened``), and the
        new severity's policy takes over. Its steps up to where the alert stands hear about it with their
        mentions (a route for ``out`` may name channels a ``low`` alert never reached), and an unacknowledged
        alert's clock runs by that policy's waits. A later start for the new severity (critical, key
        products) is then taken by :meth:`_jump_if_urgent`, as for a new alert."""
        policy = self.policy(level, new.severity)
        channels: list[str] = []
        mentions: dict[str, tuple[str, ...]] = {}
        for index in range(new.escalation_step + 1):
            step = policy.step(index)
            if step is not None:
                channels += step.channels
                mentions.update({c: step.mention for c in step.channels})
        if new.acknowledged_by is None:  # acknowledging stopped the clock; worse news does not restart it
            now = self.clock.now()
            due = t.due_at(policy, new.escalation_step, new.opened_at, now)
            paused = new.snoozed_until if new.snoozed_until and new.snoozed_until > now else None
            new = replace(new, next_step_due_at=max(due, paused) if due and paused else due)
        return await self._record(conn, alert, new, level, "worsened", actor, tuple(channels), mentions)

    async def _jump_if_urgent(
        self, conn: AsyncConnection, before: Alert | None, alert: Alert, level: Level
    ) -> Outcome | None:
        """Critical alerts and key products may start at a later step; failed fulfilments past the policy's
        business-impact threshold escalate at once."""
        policy = self.policy(level, alert.severity)
        start = policy.start_for(alert.severity, level.key_product)
        if start > alert.escalation_step and policy.step(start):
            why = "critical" if alert.severity == "critical" else "key product"
            return await self._escalate(
                conn, alert, level, SYSTEM, f"{why}, escalated at once", to_step=start
            )
        orders = alert.blocked_orders
        quantity = sum(max(o["requested"] - o["available"], 0) for o in orders)
        was = before.blocked_orders if before else []
        was_quantity = sum(max(o["requested"] - o["available"], 0) for o in was)
        if policy.impact_reached(len(orders), quantity) and not policy.impact_reached(len(was), was_quantity):
            why = f"business impact: {len(orders)} blocked order(s), {quantity} unit(s)"
            return await self._escalate(conn, alert, level, SYSTEM, why)
        return None

    async def reassess(self, conn: AsyncConnection, sku: str, location: str, actor: Actor) -> Outcome | None:
        """A level set without an event (a catalog count, ``--set-levels``): open, update or resolve its
        alert as an event with that level would, in the caller's transaction."""
        level = await store.load_level(conn, sku, location, lock=True)
        return await self.apply_signal(conn, level, actor) if level is not None else None

    # --- for sweeps that decide inside their own transaction (the feed watchdog) -------------------------
    async def open_in(
        self, conn: AsyncConnection, level: Level, severity: str, trigger: str, actor: Actor, reason: str
    ) -> Outcome:
        """Open (or reopen) an alert for ``level`` in the caller's transaction."""
        return await self._open(conn, level, severity, trigger, [], actor, reason)

    async def resolve_in(
        self, conn: AsyncConnection, alert: Alert, level: Level, actor: Actor, reason: str
    ) -> Outcome:
        """Resolve ``alert`` in the caller's transaction, as :meth:`resolve` would."""
        new = replace(t.resolved(alert, actor.display, self.clock.now(), alert.on_hand), reason=reason)
        outcome = await self._record(conn, alert, new, level, "resolved", actor)
        await store.set_open_alert(conn, alert.sku, alert.location, None)
        return outcome

    def _recovered(self, level: Level) -> bool:
        return level.on_hand is not None and level.on_hand > level.minimum + self.config.alerts.resolve_buffer

    async def _open(
        self,
        conn: AsyncConnection,
        level: Level,
        severity: str,
        trigger: str,
        orders: list[dict[str, Any]],
        actor: Actor,
        reason: str | None,
    ) -> Outcome:
        now = self.clock.now()
        policy = self.policy(level, severity)
        since = now - self.config.alerts.reopen_cooldown
        recent = await store.load_recently_resolved(conn, level.sku, level.location, since)
        flagger = actor.display if trigger == "manual" else None
        if recent:
            new = replace(
                t.reopened(recent, level, severity, trigger, now),
                blocked_orders=orders,
                reason=reason,
                flagged_by=flagger,
            )
            event, previous = "reopened", recent
        else:
            new = t.opened(
                level, severity, trigger, now, blocked_orders=orders, reason=reason, flagged_by=flagger
            )
            event, previous = "opened", None
        new.next_step_due_at = t.due_at(policy, 0, now, now)
        first = policy.steps[0]
        outcome = await self._record(
            conn,
            previous,
            new,
            level,
            event,
            actor,
            first.channels,
            {c: first.mention for c in first.channels},
        )
        await store.set_open_alert(conn, level.sku, level.location, outcome.alert.id)
        return await self._jump_if_urgent(conn, None, outcome.alert, level) or outcome

    async def _escalate(
        self,
        conn: AsyncConnection,
        alert: Alert,
        level: Level,
        actor: Actor,
        reason: str,
        to_step: int | None = None,
    ) -> Outcome:
        """Take the next step (or jump to ``to_step``): its channels, and those of any step jumped over,
        are told. Past the policy's last step the escalation is recorded but nobody new is told."""
        policy = self.policy(level, alert.severity)
        target = alert.escalation_step + 1 if to_step is None else to_step
        step = policy.step(target)
        note = f"step {target + 1}: {step.label}, {reason}" if step else reason
        new = t.escalated(alert, actor.display, self.clock.now(), policy, note, target)
        channels: list[str] = []
        mentions: dict[str, tuple[str, ...]] = {}
        rows = []
        for index in range(alert.escalation_step + 1, target + 1):
            taken = policy.step(index)
            if taken is None:
                continue
            channels += taken.channels
            mentions.update({c: taken.mention for c in taken.channels})
            if index < target:
                rows.append(
                    audit_row(
                        self.clock.now(),
                        "escalation.skipped",
                        actor.label,
                        alert_id=alert.id,
                        subject=f"{alert.sku}@{alert.location}",
                        step=index + 1,
                        reason=f"jumped to step {target + 1}: {reason}",
                    )
                )
        await append(conn, rows)
        return await self._record(conn, alert, new, level, "escalated", actor, tuple(channels), mentions)

    async def _remind(self, conn: AsyncConnection, alert: Alert, level: Level) -> Outcome:
        """``repeat``: the last step hears again while nobody acknowledges."""
        policy = self.policy(level, alert.severity)
        step = policy.step(min(alert.escalation_step, len(policy.steps) - 1))
        assert step is not None and policy.repeat is not None
        since = duration_text(alert.opened_at, self.clock.now())
        new = t.reminded(alert, self.clock.now(), policy.repeat, f"reminder: unacknowledged for {since}")
        mentions = {c: step.mention for c in step.channels}
        return await self._record(conn, alert, new, level, "escalated", SYSTEM, step.channels, mentions)

    def message(self, alert: Alert, level: Level, event: str, actor: Actor) -> AlertMessage:
        config = self.config
        return message_for(alert, level, event, actor, config.server.public_url, config.alerts.resolve_buffer)

    def policy(self, level: Level, severity: str) -> Policy:
        return policy_for(self.config, severity, level.category, level.location, level.sku)

    # --- the one place a change is written ----------------------------------------------------------------
    async def _record(
        self,
        conn: AsyncConnection,
        previous: Alert | None,
        new: Alert,
        level: Level,
        event: str,
        actor: Actor,
        new_channels: tuple[str, ...] = (),
        mentions: dict[str, tuple[str, ...]] | None = None,
        *,
        kind: str | None = None,
        why: dict[str, str] | None = None,
    ) -> Outcome:
        """``kind`` names the audit row when it is not the event (``flag_cleared``); ``why`` adds a person's
        reason to it."""
        if previous is None:
            new = await store.insert_alert(conn, new)
        else:
            await store.save_alert(conn, new, previous.version)
        now = self.clock.now()
        worse = event == "worsened" and previous is not None
        was = {"previous_severity": previous.severity} if worse and previous else {}
        if why is None and new.state == "resolved" and new.resolved_note:
            why = {"reason": new.resolved_note}
        await append(
            conn,
            [
                audit_row(
                    now,
                    f"alert.{kind or event}",
                    actor.label,
                    alert_id=new.id,
                    subject=f"{new.sku}@{new.location}",
                    state=new.state,
                    severity=new.severity,
                    on_hand=new.on_hand,
                    trigger=new.trigger,
                    step=new.escalation_step,
                    note=new.escalation_note or new.reason,
                    **was,
                    **(why or {}),
                )
            ],
        )
        message = self.message(new, level, event, actor)
        if was:
            message = replace(message, previous_severity=was["previous_severity"])
        names = [*await store.notified_channels(conn, new.id), *new_channels]
        policy = self.policy(level, new.severity)
        holds = {
            name: until
            for name in names
            if name in self.channels
            if (until := hold_until(self.config, name, self.channels[name], message, policy, now))
        }
        queued = await enqueue(
            conn, self.channels, names, message, now, f"a{new.id}-v{new.version}", mentions, holds
        )
        if (collected := self._queued.get(conn)) is not None:
            collected.changed = True
            collected.extend(queued)
        await self._audit_clock(conn, previous, new, actor, event)
        ALERT_CHANGES.labels(event, new.severity).inc()
        return Outcome(new, event, message)

    async def _audit_clock(
        self, conn: AsyncConnection, previous: Alert | None, new: Alert, actor: Actor, event: str
    ) -> None:
        """The escalation clock stopping or pausing is part of the record too."""
        if previous is None or previous.next_step_due_at is None or event == "escalated":
            return
        kind = None
        if new.next_step_due_at is None:
            kind, detail = "escalation.cancelled", {"reason": event}
        elif new.snoozed_until and new.snoozed_until != previous.snoozed_until:
            kind, detail = "escalation.paused", {"until": new.snoozed_until.isoformat()}
        if kind:
            await append(
                conn,
                [
                    audit_row(
                        self.clock.now(),
                        kind,
                        actor.label,
                        alert_id=new.id,
                        subject=f"{new.sku}@{new.location}",
                        step=new.escalation_step + 2,
                        **detail,
                    )
                ],
            )

    # --- sweeps ----
    async def batch_check(self) -> int:
        """Open an alert for every product-location at or below its minimum that has none: catches
        shortages whose events were missed. Idempotent."""
        from stockbot.storage.sweeps import short_without_alert

        count = 0
        for sku, location in await short_without_alert(self.engine):
            async with self.transaction() as conn:
                level = await store.load_level(conn, sku, location, lock=True)
                if level is None or level.open_alert_id is not None:
                    continue
                if await self.apply_signal(conn, level, SYSTEM, trigger="batch_check"):
                    count += 1
        return count

    # --- sweeps (escalation) ---------------------------------------------------------------------
    async def escalate_due(self) -> int:
        """Take every escalation step whose time has come (unacknowledged, not snoozed). Idempotent."""
        from stockbot.storage.sweeps import due_alert_ids

        count = 0
        for alert_id in await due_alert_ids(self.engine, self.clock.now()):
            async with self.transaction() as conn:
                alert = await store.load_alert(conn, alert_id)
                now = self.clock.now()
                if alert is None or alert.next_step_due_at is None or alert.next_step_due_at > now:
                    continue  # someone acknowledged, or another replica took the step
                if alert.snoozed_until and alert.snoozed_until > now:
                    continue
                level = await store.load_level(conn, alert.sku, alert.location)
                assert level is not None
                policy = self.policy(level, alert.severity)
                step = policy.step(alert.escalation_step + 1)
                if step is not None:
                    await self._escalate(conn, alert, level, SYSTEM, waited(step))
                elif policy.repeat is not None:
                    await self._remind(conn, alert, level)
                else:  # the policy changed since the timer was set: nothing left to do
                    await store.save_alert(
                        conn, replace(alert, next_step_due_at=None, version=alert.version + 1), alert.version
                    )
                    continue
                count += 1
        return count


def action_event(action: str) -> str:
    return {"acknowledge": "acknowledged", "snooze": "snoozed", "resolve": "resolved"}[action]


def message_for(
    alert: Alert,
    level: Level,
    event: str,
    actor: Actor,
    public_url: str | None,
    resolve_buffer: int = 0,
) -> AlertMessage:
    # What the card must say to be true now: who flagged it by hand, and the level it resolves above.
    resolves_above = None if alert.state == "resolved" else alert.minimum + resolve_buffer
    return AlertMessage(
        alert_id=alert.id,
        event=event,
        sku=alert.sku,
        product_name=level.name,
        category=level.category,
        key_product=level.key_product,
        location=alert.location,
        on_hand=alert.on_hand,
        minimum=alert.minimum,
        critical_level=alert.critical_level,
        severity=alert.severity,
        state=alert.state,
        trigger=alert.trigger,
        opened_at=alert.opened_at,
        updated_at=alert.updated_at,
        actor=actor.display,
        reason=alert.reason,
        blocked_orders=tuple(BlockedOrder(**o) for o in alert.blocked_orders),
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        escalated_by=alert.escalated_by,
        escalated_at=alert.escalated_at,
        escalation_level=alert.escalation_step,
        escalation_note=alert.escalation_note,
        snoozed_until=alert.snoozed_until,
        resolved_at=alert.resolved_at,
        resolved_by=alert.resolved_by,
        last_source=level.last_source,
        last_changed_at=level.last_event_at,
        link=f"{public_url.rstrip('/')}/alerts/{alert.id}" if public_url else None,
        flagged_by=alert.flagged_by,
        resolves_above=resolves_above,
        resolved_note=alert.resolved_note,
    )


async def retrying(fn: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run a transaction again when another one changed the same alert first."""
    for attempt in range(attempts):
        try:
            return await fn()
        except store.ConcurrentChange:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
