"""What happens to alerts: signals open and update them, people acknowledge, escalate, snooze and resolve.

Every change, its audit row and its deliveries are written in one transaction (the outbox). Chat front ends
and the CLI call :class:`AlertDesk`'s methods; they never touch alert rows themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.adapters import notes
from stockbot.adapters.base import AlertMessage, BlockedOrder
from stockbot.adapters.i18n import WordedError, phrase
from stockbot.adapters.message import FEED_CATEGORY, duration_text
from stockbot.adapters.report_data import Cover, Period
from stockbot.bot import transitions as t
from stockbot.bot.clock import Clock
from stockbot.bot.config import Config
from stockbot.bot.history import cover, sales_of
from stockbot.bot.metrics import ALERT_CHANGES, STOCKOUT_DURATION, TIME_TO_ACKNOWLEDGE
from stockbot.bot.noise import hold_until
from stockbot.bot.outbox import delivery_rows
from stockbot.bot.permissions import SYSTEM, Actor, PermissionDenied, require
from stockbot.bot.refusals import refuse_action
from stockbot.bot.routing import Policy, channels_of, policy_for, waited
from stockbot.storage import alerts as store
from stockbot.storage.alerts import Alert, Level
from stockbot.storage.audit import audit_row
from stockbot.storage.folding import same
from stockbot.storage.ingest_rows import Rows, Writes, rows_for

T = TypeVar("T")
# A forecast alert (bot/forecast.py) opens before the minimum is reached, so a level above it does not end
# it: the forecast sweep resolves it when the forecast no longer says so.
FORECAST = "forecast"


class NotFound(WordedError):
    """No such alert, product or location; the phrase says what would work (``str()``: the English)."""


@dataclass(frozen=True)
class Outcome:
    alert: Alert
    event: str
    message: AlertMessage


class Queued(list[int]):
    """The ids of the deliveries one transaction queued; ``changed`` says it changed an alert at all (a
    change no destination takes queues nothing, yet an App Home showing the alert is stale)."""

    changed: bool = False


@dataclass(frozen=True)
class Signal:
    """News about a product-location: its level moved, its source said it is out, orders were blocked, a
    person flagged it, or a sweep found it short. ``level`` is already at its new on-hand value."""

    level: Level
    actor: Actor
    source_said_out: bool = False
    blocked: Sequence[BlockedOrder] = ()
    trigger: str | None = None
    manual_reason: str | None = None

    @property
    def pair(self) -> tuple[str, str]:
        return (self.level.sku, self.level.location)


@dataclass
class Change:
    """One change of one alert as the rules decided it, written later with the rest of its transaction.

    ``before`` holds audit rows (kind, detail) that precede the change's own, e.g. escalation steps jumped
    over; they are completed with the alert's id once it has one. ``kind`` names the change's audit row when
    it is not the event (``flag_cleared``); ``why`` adds a person's reason to it.
    """

    previous: Alert | None
    new: Alert
    level: Level
    event: str
    actor: Actor
    channels: tuple[str, ...] = ()
    mentions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    before: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    kind: str | None = None
    why: dict[str, str] | None = None


# Successive changes of one alert in one transaction (opened, then escalated at once): the row is written
# once, in its last state; every change gets its audit row and deliveries.
Chain = list[Change]


class AlertDesk:
    def __init__(self, config: Config, engine: AsyncEngine, clock: Clock) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.channels = channels_of(config)
        self._listeners: list[Callable[[Sequence[int]], None]] = []
        # The ids of the deliveries each open transaction queued, by what names it (``Rows.owner``: its
        # connection); the writer's thread and this loop each touch only their own transactions' entries.
        self._queued: dict[Any, Queued] = {}
        # Policies are pure functions of the config and these four facts, asked three times per change.
        self._policies: dict[tuple[str, str, str, str], Policy] = {}

    def on_outbox(self, listener: Callable[[Sequence[int]], None]) -> None:
        """Call ``listener`` right after a commit that changed alerts, with the ids of the deliveries it
        queued (possibly none): the dispatcher claims them at once instead of finding them at its next
        poll, and the Slack App Home marks itself stale."""
        self._listeners.append(listener)

    def outbox_written(self, ids: Sequence[int]) -> None:
        for listener in self._listeners:
            listener(ids)

    @contextmanager
    def collecting(self, owner: Any) -> Iterator[Queued]:
        """Gather the ids of the deliveries queued in the transaction ``owner`` names (its connection, or
        ``Rows.owner``), for its owner to pass to :meth:`outbox_written` once it has committed, if it
        changed an alert (the ingest writer does, from its own thread)."""
        queued = Queued()
        self._queued[owner] = queued
        try:
            yield queued
        finally:
            del self._queued[owner]

    async def flush(self, rows: Rows, writes: Writes) -> None:
        """Write what ``writes`` gathered, in ``rows``' transaction; the deliveries it queued are handed
        to the dispatcher once that transaction commits (:meth:`collecting`)."""
        changed = writes.changed
        ids = await writes.flush(rows)
        if (collected := self._queued.get(rows.owner)) is not None:
            collected.changed = collected.changed or changed
            collected.extend(ids)

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
        return await self._act("escalate", alert_id, actor, None, note=note or notes.BY_HAND)

    async def resolve(self, alert_id: int, actor: Actor, reason: str | None = None) -> Outcome:
        """A manager closes an alert by hand, whatever the level (a mistaken alert): the cards say who
        resolved it and why, never "back in stock"."""
        note = reason or notes.RESOLVED_BY_HAND

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
                change = self._unflag(alert, level, actor, reason or notes.FLAG_CLEARED)
                [outcome] = await self.commit(rows_for(conn), [[change]])
        except (NotFound, t.InvalidTransition) as exc:
            await self.refuse(actor, "clear", str(exc), alert_id=alert_id, subject=sku)
            raise
        return outcome

    def _unflag(self, alert: Alert | None, level: Level, actor: Actor, reason: str) -> Change:
        if alert is None:
            raise NotFound(
                phrase(
                    "{sku} at {location} has no open alert: there is no flag to clear",
                    sku=level.sku,
                    location=level.location,
                )
            )
        if not alert.flagged_by:
            on_hand = phrase("unknown") if level.on_hand is None else level.on_hand
            raise t.InvalidTransition(
                phrase(
                    "alert #{id} was not flagged by hand: it follows the system's level ({on_hand} on hand, "
                    "minimum {minimum}); a manager can Resolve it",
                    id=alert.id,
                    on_hand=on_hand,
                    minimum=level.minimum,
                )
            )
        now, why = self.clock.now(), {"reason": reason}
        severity = t.severity_for(level, level.on_hand, alert.blocked_orders)
        if severity is None:  # the level is not short: the flag was all there was
            new = replace(
                t.resolved(alert, actor.display, now, level.on_hand),
                flagged_by=None,
                reason=None,
                resolved_note=notes.FLAG_CLEARED_BECAUSE.format(reason=reason),
            )
            return Change(alert, new, level, "resolved", actor, kind="flag_cleared", why=why)
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
        return Change(alert, new, level, "updated", actor, kind="flag_cleared", why=why)

    async def flag(self, sku: str, location: str | None, actor: Actor, reason: str | None) -> Outcome:
        """Warehouse staff say a product is out, whatever the system's level says."""
        await self._require("flag", actor, subject=sku)
        try:
            async with self.transaction() as conn:
                level = await self._flag_level(conn, sku, location)
                outcome = await self.apply_signal(conn, level, actor, manual_reason=reason or notes.FLAGGED)
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
            raise NotFound(
                phrase(
                    "no product with SKU {sku} in the catalog; look it up with the stock command",
                    sku=repr(sku),
                )
            )
        sku = spelled
        if location is None:
            if len(known) > 1:
                raise NotFound(
                    phrase(
                        "{sku} is stocked at {locations}: say which location", sku=sku, locations=tuple(known)
                    )
                )
            location = known[0]
        matched = next((loc for loc in known if same(loc, location)), None)
        if matched is None:
            raise NotFound(
                phrase(
                    "{sku} has no location {location}; known: {locations}",
                    sku=sku,
                    location=repr(location),
                    locations=tuple(known),
                )
            )
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
                raise NotFound(phrase("there is no alert #{id}", id=alert_id))
            level = await store.load_level(conn, alert.sku, alert.location)
            assert level is not None
            now = self.clock.now()
            if change is None:
                done = self._escalation(alert, level, actor, note or "", now)
            else:
                done = Change(alert, change(alert, now), level, action_event(action), actor)
            [outcome] = await self.commit(rows_for(conn), [[done]])
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
        signal = Signal(level, actor, source_said_out, tuple(blocked), trigger, manual_reason)
        writes = Writes()
        rows = rows_for(conn)
        outcomes = await self.apply_signals(rows, [signal], writes)
        await self.flush(rows, writes)
        return outcomes[0] if outcomes else None

    async def apply_signals(self, rows: Rows, signals: Sequence[Signal], writes: Writes) -> list[Outcome]:
        """:meth:`apply_signal` for many product-locations (one signal each) at once: one query reads their
        open and recently resolved alerts, the rules decide each, and the alert rows are written set-wise.
        Audit rows, deliveries and open-alert pointers are left in ``writes`` for the caller to flush with
        its own. Returns an outcome per product-location whose alert changed."""
        if not signals:
            return []
        now = self.clock.now()
        pairs = [signal.pair for signal in signals]
        assert len(set(pairs)) == len(pairs), "one signal per product-location"
        unresolved: dict[tuple[str, str], Alert] = {}
        recent: dict[tuple[str, str], Alert] = {}
        for alert in await rows.alerts_of(pairs, now - self.config.alerts.reopen_cooldown):
            key = (alert.sku, alert.location)
            if alert.state != "resolved":
                unresolved[key] = alert
            elif key not in recent or _resolved_later(alert, recent[key]):
                recent[key] = alert
        chains = []
        for signal in signals:
            chain = self._signal_changes(signal, unresolved.get(signal.pair), recent.get(signal.pair), now)
            if chain:
                chains.append(chain)
        return await self._write(rows, chains, writes)

    def _signal_changes(
        self, signal: Signal, alert: Alert | None, recent: Alert | None, now: datetime
    ) -> Chain:
        """What a signal does to the product-location's alert: the rules, with no I/O."""
        level, actor = signal.level, signal.actor
        orders = list(alert.blocked_orders) if alert else []
        for order in signal.blocked:
            if all(o["order_id"] != order.order_id for o in orders):
                orders.append(order.__dict__)
        said_out = signal.source_said_out or signal.manual_reason is not None
        forecast = alert is not None and alert.trigger == FORECAST
        if alert and self._recovered(level) and not said_out and not signal.blocked and not forecast:
            resolved = t.resolved(alert, actor.display, now, level.on_hand)
            return [Change(alert, resolved, level, "resolved", actor)]
        severity = t.severity_for(level, level.on_hand, orders, flagged=said_out)
        trigger = signal.trigger
        if trigger is None:
            trigger = (
                "manual"
                if signal.manual_reason
                else (
                    "fulfillment_failed"
                    if signal.blocked
                    else t.trigger_for(level.on_hand, signal.source_said_out)
                )
            )
        if alert is None:
            if severity is None:
                return []
            return self._opening(level, severity, trigger, orders, actor, signal.manual_reason, recent, now)
        new = t.refreshed(alert, level, severity or alert.severity, trigger, now, orders)
        if new is None and signal.manual_reason is None:
            return []
        new = new or replace(alert, updated_at=now, version=alert.version + 1)
        if signal.manual_reason:
            new = replace(new, reason=signal.manual_reason, trigger="manual", flagged_by=actor.display)
        if t.SEVERITY_RANK[new.severity] > t.SEVERITY_RANK[alert.severity]:
            change = self._worsened(alert, new, level, actor, now)
        else:
            change = Change(alert, new, level, "updated", actor)
        return [change, *self._urgent(alert, change.new, level, now)]

    def _worsened(self, alert: Alert, new: Alert, level: Level, actor: Actor, now: datetime) -> Change:
        """A worse severity is news, not just an edit: every card gets a thread reply (``worsened``), and the
        new severity's policy takes over. Its steps up to where the alert stands hear about it with their
        mentions (a route for ``out`` may name channels a ``low`` alert never reached), and an unacknowledged
        alert's clock runs by that policy's waits. A later start for the new severity (critical, key
        products) is then taken by :meth:`_urgent`, as for a new alert."""
        policy = self.policy(level, new.severity)
        channels: list[str] = []
        mentions: dict[str, tuple[str, ...]] = {}
        for index in range(new.escalation_step + 1):
            step = policy.step(index)
            if step is not None:
                channels += step.channels
                mentions.update({c: step.mention for c in step.channels})
        if new.acknowledged_by is None:  # acknowledging stopped the clock; worse news does not restart it
            due = t.due_at(policy, new.escalation_step, new.opened_at, now)
            paused = new.snoozed_until if new.snoozed_until and new.snoozed_until > now else None
            new = replace(new, next_step_due_at=max(due, paused) if due and paused else due)
        return Change(alert, new, level, "worsened", actor, tuple(channels), mentions)

    async def reassess(self, conn: AsyncConnection, sku: str, location: str, actor: Actor) -> Outcome | None:
        """A level set without an event (a catalog count, ``--set-levels``): open, update or resolve its
        alert as an event with that level would, in the caller's transaction."""
        level = await store.load_level(conn, sku, location, lock=True)
        return await self.apply_signal(conn, level, actor) if level is not None else None

    def _urgent(self, before: Alert | None, alert: Alert, level: Level, now: datetime) -> Chain:
        """Critical alerts and key products may start at a later step; failed fulfilments past the policy's
        business-impact threshold escalate at once."""
        policy = self.policy(level, alert.severity)
        start = policy.start_for(alert.severity, level.key_product)
        if start > alert.escalation_step and policy.step(start):
            why = notes.CRITICAL_AT_ONCE if alert.severity == "critical" else notes.KEY_PRODUCT_AT_ONCE
            return [self._escalation(alert, level, SYSTEM, why, now, to_step=start)]
        orders = alert.blocked_orders
        quantity = sum(max(o["requested"] - o["available"], 0) for o in orders)
        was = before.blocked_orders if before else []
        was_quantity = sum(max(o["requested"] - o["available"], 0) for o in was)
        if policy.impact_reached(len(orders), quantity) and not policy.impact_reached(len(was), was_quantity):
            why = notes.BUSINESS_IMPACT.format(orders=len(orders), units=quantity)
            return [self._escalation(alert, level, SYSTEM, why, now)]
        return []

    # --- for sweeps that decide inside their own transaction (the feed watchdog) -------------------------
    async def open_in(
        self, conn: AsyncConnection, level: Level, severity: str, trigger: str, actor: Actor, reason: str
    ) -> Outcome:
        """Open (or reopen) an alert for ``level`` in the caller's transaction."""
        rows = rows_for(conn)
        now = self.clock.now()
        found = await rows.alerts_of([(level.sku, level.location)], now - self.config.alerts.reopen_cooldown)
        resolved = [a for a in found if a.state == "resolved"]
        recent = max(resolved, key=lambda a: a.resolved_at or now) if resolved else None
        chain = self._opening(level, severity, trigger, [], actor, reason, recent, now)
        return (await self.commit(rows, [chain]))[0]

    async def resolve_in(
        self, conn: AsyncConnection, alert: Alert, level: Level, actor: Actor, reason: str
    ) -> Outcome:
        """Resolve ``alert`` in the caller's transaction, as :meth:`resolve` would."""
        new = replace(t.resolved(alert, actor.display, self.clock.now(), alert.on_hand), reason=reason)
        return (await self.commit(rows_for(conn), [[Change(alert, new, level, "resolved", actor)]]))[0]

    def _recovered(self, level: Level) -> bool:
        return level.on_hand is not None and level.on_hand > level.minimum + self.config.alerts.resolve_buffer

    def _opening(
        self,
        level: Level,
        severity: str,
        trigger: str,
        orders: list[dict[str, Any]],
        actor: Actor,
        reason: str | None,
        recent: Alert | None,
        now: datetime,
    ) -> Chain:
        """A new alert, or the one resolved within the cool-down opened again."""
        policy = self.policy(level, severity)
        flagger = actor.display if trigger == "manual" else None
        if recent:
            new = replace(
                t.reopened(recent, level, severity, trigger, now),
                blocked_orders=orders,
                reason=reason,
                flagged_by=flagger,
            )
            event = "reopened"
        else:
            new = t.opened(
                level, severity, trigger, now, blocked_orders=orders, reason=reason, flagged_by=flagger
            )
            event = "opened"
        new.next_step_due_at = t.due_at(policy, 0, now, now)
        first = policy.steps[0]
        opening = Change(
            recent, new, level, event, actor, first.channels, {c: first.mention for c in first.channels}
        )
        return [opening, *self._urgent(None, new, level, now)]

    def _escalation(
        self,
        alert: Alert,
        level: Level,
        actor: Actor,
        reason: str,
        now: datetime,
        to_step: int | None = None,
    ) -> Change:
        """Take the next step (or jump to ``to_step``): its channels, and those of any step jumped over,
        are told. Past the policy's last step the escalation is recorded but nobody new is told."""
        policy = self.policy(level, alert.severity)
        target = alert.escalation_step + 1 if to_step is None else to_step
        step = policy.step(target)
        note = notes.STEP.format(step=target + 1, label=step.label, reason=reason) if step else reason
        new = t.escalated(alert, actor.display, now, policy, note, target)
        channels: list[str] = []
        mentions: dict[str, tuple[str, ...]] = {}
        skipped: list[tuple[str, dict[str, Any]]] = []
        for index in range(alert.escalation_step + 1, target + 1):
            taken = policy.step(index)
            if taken is None:
                continue
            channels += taken.channels
            mentions.update({c: taken.mention for c in taken.channels})
            if index < target:
                why = f"jumped to step {target + 1}: {reason}"
                skipped.append(("escalation.skipped", {"step": index + 1, "reason": why}))
        return Change(alert, new, level, "escalated", actor, tuple(channels), mentions, skipped)

    def _reminder(self, alert: Alert, level: Level, now: datetime) -> Change:
        """``repeat``: the last step hears again while nobody acknowledges."""
        policy = self.policy(level, alert.severity)
        step = policy.step(min(alert.escalation_step, len(policy.steps) - 1))
        assert step is not None and policy.repeat is not None
        since = duration_text(alert.opened_at, now)
        new = t.reminded(alert, now, policy.repeat, notes.REMINDER.format(since=since))
        mentions = {c: step.mention for c in step.channels}
        return Change(alert, new, level, "escalated", SYSTEM, step.channels, mentions)

    def message(
        self, alert: Alert, level: Level, event: str, actor: Actor, cover: Cover | None = None
    ) -> AlertMessage:
        config = self.config
        return message_for(
            alert, level, event, actor, config.server.public_url, config.alerts.resolve_buffer, cover
        )

    def policy(self, level: Level, severity: str) -> Policy:
        key = (severity, level.category, level.location, level.sku)
        found = self._policies.get(key)
        if found is None:
            if len(self._policies) >= 10_000:  # a bound, not an eviction policy: rebuilding is cheap
                self._policies.clear()
            found = self._policies[key] = policy_for(self.config, *key)
        return found

    # --- the one place changes are written -----------------------------------------------------------------
    async def commit(self, rows: Rows, chains: list[Chain]) -> list[Outcome]:
        """Write ``chains`` and everything they cause, in the caller's transaction."""
        writes = Writes()
        outcomes = await self._write(rows, chains, writes)
        await self.flush(rows, writes)
        return outcomes

    async def _write(self, rows: Rows, chains: list[Chain], writes: Writes) -> list[Outcome]:
        """Alert rows now (new ones in one INSERT … RETURNING, so ids are known); each change's audit rows,
        deliveries and open-alert pointer into ``writes``. One outcome per chain, its last change's."""
        fresh = [chain for chain in chains if chain[0].previous is None]
        for chain, alert_id in zip(fresh, await rows.insert_alerts([c[-1].new for c in fresh]), strict=True):
            for change in chain:
                change.new.id = alert_id
        kept = [chain for chain in chains if chain[0].previous is not None]
        notified: dict[int, set[str]] = {}
        if kept:
            await rows.update_alerts([(c[-1].new, _first_version(c)) for c in kept])
            notified = await rows.notified_channels([c[-1].new.id for c in kept])
        now = self.clock.now()
        outcomes = []
        covers = await self._covers(rows, [change.level for chain in chains for change in chain], now)
        for chain in chains:
            for change in chain:
                cover = covers.get((change.level.sku, change.level.location))
                seen = notified.setdefault(change.new.id, set())
                outcome = self._record(change, seen, writes, now, cover)
                pair = (change.new.sku, change.new.location)
                if change.event in ("opened", "reopened"):
                    writes.open_alerts[pair] = change.new.id
                elif change.new.state == "resolved":
                    writes.open_alerts[pair] = None
            outcomes.append(outcome)
        return outcomes

    def _record(
        self, change: Change, notified: set[str], writes: Writes, now: datetime, cover: Cover | None = None
    ) -> Outcome:
        """The audit rows and deliveries of one change; ``notified`` (the channels this alert was sent to)
        grows by those queued now, so a later change in the same transaction updates them too."""
        new, actor, level = change.new, change.actor, change.level
        subject = f"{new.sku}@{new.location}"
        for kind, detail in change.before:
            writes.audit.append(audit_row(now, kind, actor.label, alert_id=new.id, subject=subject, **detail))
        previous = change.previous
        worse = change.event == "worsened" and previous is not None
        was = {"previous_severity": previous.severity} if worse and previous else {}
        why = change.why
        if why is None and new.state == "resolved" and new.resolved_note:
            why = {"reason": new.resolved_note}
        writes.audit.append(
            audit_row(
                now,
                f"alert.{change.kind or change.event}",
                actor.label,
                alert_id=new.id,
                subject=subject,
                state=new.state,
                severity=new.severity,
                on_hand=new.on_hand,
                trigger=new.trigger,
                step=new.escalation_step,
                note=new.escalation_note or new.reason,
                **was,
                **(why or {}),
            )
        )
        writes.stockouts.append((previous, new, change.event))
        message = self.message(new, level, change.event, actor, cover)
        if was:
            message = replace(message, previous_severity=was["previous_severity"])
        names = [*sorted(notified), *change.channels]
        policy = self.policy(level, new.severity)
        holds = {
            name: until
            for name in names
            if name in self.channels
            if (until := hold_until(self.config, name, self.channels[name], message, policy, now))
        }
        queued = delivery_rows(
            self.channels, names, message, now, f"a{new.id}-v{new.version}", change.mentions, holds
        )
        writes.deliveries += queued
        writes.changed = True
        notified.update(row["channel"] for row in queued)
        writes.audit += self._clock_rows(change, now)
        ALERT_CHANGES.labels(change.event, new.severity).inc()
        observe(new, change.event)
        return Outcome(new, change.event, message)

    async def _covers(self, rows: Rows, levels: list[Level], now: datetime) -> dict[tuple[str, str], Cover]:
        """Rate of sale, days of cover and reorder quantity for the messages, read for all the changed
        product-locations at once in the transaction (feeds have no stock)."""
        stock = {(level.sku, level.location): level for level in levels if level.category != FEED_CATEGORY}
        if not stock:
            return {}
        reorder = self.config.reorder
        window = Period.last(reorder.sales_window_days, now)
        sold = await sales_of(rows.reader(), window, stock)
        elapsed = window.until - window.starts_at
        return {
            pair: cover(
                sold.get(pair, 0),
                elapsed,
                level.on_hand,
                level.minimum,
                level.lead_time_days if level.lead_time_days is not None else reorder.lead_time_days,
                reorder.review_period_days,
            )
            for pair, level in stock.items()
        }

    def _clock_rows(self, change: Change, now: datetime) -> list[dict[str, Any]]:
        """The escalation clock stopping or pausing is part of the record too."""
        previous, new = change.previous, change.new
        if previous is None or previous.next_step_due_at is None or change.event == "escalated":
            return []
        if new.next_step_due_at is None:
            kind, detail = "escalation.cancelled", {"reason": change.event}
        elif new.snoozed_until and new.snoozed_until != previous.snoozed_until:
            kind, detail = "escalation.paused", {"until": new.snoozed_until.isoformat()}
        else:
            return []
        row = audit_row(
            now,
            kind,
            change.actor.label,
            alert_id=new.id,
            subject=f"{new.sku}@{new.location}",
            step=new.escalation_step + 2,
            **detail,
        )
        return [row]

    # --- sweeps ----
    async def batch_check(self, group: int = 250) -> int:
        """Open an alert for every product-location at or below its minimum that has none: catches
        shortages whose events were missed. Idempotent. Groups of ``group`` product-locations share a
        transaction (a first sweep after a long outage may open thousands)."""
        from stockbot.storage.sweeps import short_without_alert

        short = await short_without_alert(self.engine)
        count = 0
        for start in range(0, len(short), group):
            # Each group's deliveries go to the dispatcher as it commits, while the next is decided.
            async with self.transaction() as conn:
                rows = rows_for(conn)
                levels = await rows.lock_levels(short[start : start + group])
                signals = [
                    Signal(level, SYSTEM, trigger="batch_check")
                    for _, level in sorted(levels.items())
                    if level.open_alert_id is None  # an event opened one meanwhile
                ]
                count += len(await self.commit_signals(rows, signals))
        return count

    async def commit_signals(self, rows: Rows, signals: Sequence[Signal]) -> list[Outcome]:
        """:meth:`apply_signals`, then write what they caused, in the caller's transaction."""
        writes = Writes()
        outcomes = await self.apply_signals(rows, signals, writes)
        await self.flush(rows, writes)
        return outcomes

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
                rows = rows_for(conn)
                if step is not None:
                    await self.commit(rows, [[self._escalation(alert, level, SYSTEM, waited(step), now)]])
                elif policy.repeat is not None:
                    await self.commit(rows, [[self._reminder(alert, level, now)]])
                else:  # the policy changed since the timer was set: nothing left to do
                    stopped = replace(alert, next_step_due_at=None, version=alert.version + 1)
                    await rows.update_alerts([(stopped, alert.version)])
                    continue
                count += 1
        return count


def _first_version(chain: Chain) -> int:
    assert chain[0].previous is not None
    return chain[0].previous.version


def _resolved_later(alert: Alert, than: Alert) -> bool:
    return (alert.resolved_at or alert.updated_at) > (than.resolved_at or than.updated_at)


def action_event(action: str) -> str:
    return {"acknowledge": "acknowledged", "snooze": "snoozed", "resolve": "resolved"}[action]


def observe(alert: Alert, event: str) -> None:
    """Prometheus histograms: time to acknowledge and time out of stock, by severity (never by SKU)."""
    if event == "acknowledged" and alert.acknowledged_at is not None:
        seconds = (alert.acknowledged_at - alert.opened_at).total_seconds()
        TIME_TO_ACKNOWLEDGE.labels(alert.severity).observe(max(seconds, 0.0))
    elif event == "resolved" and alert.resolved_at is not None:
        seconds = (alert.resolved_at - alert.opened_at).total_seconds()
        STOCKOUT_DURATION.labels(alert.severity).observe(max(seconds, 0.0))


def message_for(
    alert: Alert,
    level: Level,
    event: str,
    actor: Actor,
    public_url: str | None,
    resolve_buffer: int = 0,
    cover: Cover | None = None,
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
        rate_of_sale=cover.rate_of_sale if cover else None,
        days_of_cover=cover.days_of_cover if cover else None,
        suggested_reorder=cover.suggested_reorder if cover else None,
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
