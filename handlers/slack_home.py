"""stockbot's App Home tab in Slack: each person's open alerts, kept current.

- ``app_home_opened`` (tab ``home``) records the person (``storage/slack_home.py``; the first time is audited)
  and publishes their Home with ``views.publish``: the open alerts their roles permit acting on
  (``bot/inbox.py``), each with its level, age, state and the card's buttons they may use, in their Slack
  language (``users.info`` locale, cached an hour with their name, as for ``/stock`` answers).
- The buttons are the card's own (same action ids and values), so the card's click handlers act on them;
  their answer comes back here (:meth:`HomeTab.answer`) and is shown at the top of a freshly published Home.
- A location menu republishes the Home with that filter, which is kept for the person.
- When an alert changes, the desk tells its ``on_outbox`` listeners right after the commit; this only marks
  the Homes stale (no work on the alert path). A background pass then re-renders the Home of everyone who
  opened it and publishes those whose view differs from what they were last shown. Passes coalesce bursts
  (one pass for every change within half a second), each person is published at most once per
  ``[slack] home_refresh_seconds`` (10 s by default; later changes wait for the next slot), and publishes go
  out per workspace at most one per 0.6 s: ``views.publish`` is Tier 4, about 100 a minute per workspace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from stockbot.adapters.base import parse_retry_after
from stockbot.adapters.render.slack_home import (
    ALL_LOCATIONS,
    HOME_LOCATION_ACTION,
    MAX_HOME_ALERTS,
    home_view,
)
from stockbot.adapters.slack import SlackSettings
from stockbot.bot.inbox import open_alerts_for
from stockbot.bot.permissions import Actor, permitted
from stockbot.bot.runtime import Runtime
from stockbot.bot.stock import stock_locations
from stockbot.storage.slack_home import HomeViewer, home_opened, home_viewer, home_viewers, set_home_location

log = logging.getLogger("stockbot.slack.home")

COALESCE_SECONDS = 0.5  # changes within this long become one refresh pass
PUBLISH_INTERVAL = 0.6  # per workspace: views.publish is Tier 4, about 100 per minute
Person = tuple[str, str]  # (team id, user id)


class _Workspace(Protocol):
    @property
    def client(self) -> AsyncWebClient: ...


class SlackFront(Protocol):
    """What the Home tab uses of the Slack front end (handlers/slack.py)."""

    runtime: Runtime
    settings: SlackSettings
    tz: str

    async def workspace(self, team_id: str) -> _Workspace | None: ...

    async def actor_in(self, team: str, user: str, handle: str = "", *, named: bool = True) -> Actor: ...

    async def language_in(self, team: str, user: str) -> str: ...

    def spawn(
        self, work: Coroutine[Any, Any, None], what: str, body: dict[str, Any], respond: AsyncRespond | None
    ) -> None: ...


@dataclass
class _Shown:
    """What a person was last shown: to skip identical publishes and space them out."""

    digest: str = ""
    at: float = float("-inf")  # the loop's monotonic time of the publish
    notice: str | None = None  # the answer to their last click, until they open Home again


class _Pacer:
    """At most one call per ``interval`` per key; a 429 pushes the key's next slot back."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}

    async def wait(self, key: str) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def hold(self, key: str, seconds: float) -> None:
        self._next[key] = max(self._next.get(key, 0.0), asyncio.get_running_loop().time() + seconds)


class HomeTab:
    def __init__(self, front: SlackFront) -> None:
        self.front = front
        self.runtime = front.runtime
        self.min_interval = front.settings.home_refresh_seconds
        self.coalesce = min(COALESCE_SECONDS, self.min_interval)
        self._shown: dict[Person, _Shown] = {}
        self._locks: dict[Person, asyncio.Lock] = {}
        self._pacer = _Pacer(PUBLISH_INTERVAL)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stale: asyncio.Event | None = None  # alerts changed since the last pass
        self._idle: asyncio.Event | None = None  # no pass due or running (stale implies not idle)
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # --- wiring -----------------------------------------------------------------------------------------
    def listen(self, app: AsyncApp) -> None:
        app.event("app_home_opened")(self._opened)
        app.action(HOME_LOCATION_ACTION)(self._filtered)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stale, self._idle = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._refresh_loop(), name="slack-home-refresh")
        self.runtime.desk.on_outbox(self.changed)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def changed(self, queued: Sequence[int] = ()) -> None:
        """The desk's ``on_outbox`` listener: alerts changed (``queued``, the deliveries that queued, is the
        dispatcher's business). Called on the server's loop or from the ingest writer's thread, so it only
        marks Homes stale (thread-safely) and returns."""
        loop = self._loop
        if loop is None or self._task is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._mark_stale()
        else:
            loop.call_soon_threadsafe(self._mark_stale)

    def _mark_stale(self) -> None:
        if self._stale is not None and self._idle is not None:
            self._idle.clear()
            self._stale.set()

    async def settle(self, timeout: float | None = None) -> None:
        """Wait until no refresh pass is due or running (tests, shutdown); later debounced slots excepted."""
        if self._idle is not None:
            async with asyncio.timeout(timeout):
                await self._idle.wait()

    # --- Slack's requests ---------------------------------------------------------------------------------
    async def _opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab") != "home" or not event.get("user"):
            return  # the Messages tab, or something Slack may add: nothing to publish
        team, user = str(body.get("team_id") or ""), str(event["user"])
        self.front.spawn(self._open(team, user), "app_home_opened", body, None)

    async def _open(self, team: str, user: str) -> None:
        viewer = await home_opened(self.runtime.engine, team, user, self.runtime.clock.now())
        self._shown.setdefault((team, user), _Shown()).notice = None
        await self.show(viewer, force=True)

    async def _filtered(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        chosen = str((action.get("selected_option") or {}).get("value") or ALL_LOCATIONS)
        team, user = str((body.get("team") or {}).get("id") or ""), str((body.get("user") or {}).get("id"))
        location = None if chosen == ALL_LOCATIONS else chosen
        self.front.spawn(self._filter(team, user, location), HOME_LOCATION_ACTION, body, respond)

    async def _filter(self, team: str, user: str, location: str | None) -> None:
        await set_home_location(self.runtime.engine, team, user, location)
        self._shown.setdefault((team, user), _Shown()).notice = None
        await self.show(HomeViewer(team, user, location), force=True)

    def owns(self, body: dict[str, Any]) -> bool:
        """A click on the Home tab (no channel, no response_url): answered on the Home itself."""
        return body.get("type") == "block_actions" and (body.get("view") or {}).get("type") == "home"

    async def answer(self, body: dict[str, Any], notice: str) -> None:
        """The answer to a click on someone's Home: republish it, with the answer on top."""
        team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        viewer = await home_viewer(self.runtime.engine, team, user) or HomeViewer(team, user)
        self._shown.setdefault((team, user), _Shown()).notice = notice
        await self.show(viewer, force=True)

    # --- publishing ---------------------------------------------------------------------------------------
    async def show(
        self, viewer: HomeViewer, *, force: bool = False, locations: list[str] | None = None
    ) -> bool:
        """Render ``viewer``'s Home and publish it if it changed (or ``force``); True if published."""
        person = (viewer.team_id, viewer.user_id)
        async with self._locks.setdefault(person, asyncio.Lock()):
            shown = self._shown.setdefault(person, _Shown())
            if locations is None:
                locations = await stock_locations(self.runtime.engine)
            view = await self._render(viewer, shown.notice, locations)
            digest = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()
            if digest == shown.digest and not force:
                return False
            if not await self._publish(viewer, view):
                return False
            shown.digest, shown.at = digest, asyncio.get_running_loop().time()
            return True

    async def _render(self, viewer: HomeViewer, notice: str | None, locations: list[str]) -> dict[str, Any]:
        actor = await self.front.actor_in(viewer.team_id, viewer.user_id, named=False)
        engine, config = self.runtime.engine, self.runtime.config
        found = await open_alerts_for(
            engine, config, actor, location=viewer.location, limit=MAX_HOME_ALERTS + 1
        )
        return home_view(
            found[:MAX_HOME_ALERTS],
            may=permitted(config.roles, actor),
            locations=locations,
            location=viewer.location,
            more=len(found) > MAX_HOME_ALERTS,
            notice=notice,
            timezone=self.front.tz,
            language=await self.front.language_in(viewer.team_id, viewer.user_id),
        )

    async def _publish(self, viewer: HomeViewer, view: dict[str, Any]) -> bool:
        team = viewer.team_id
        workspace = await self.front.workspace(team)
        if workspace is None:
            log.info(
                "slack home: workspace %s is not installed; Home of %s not published", team, viewer.user_id
            )
            return False
        await self._pacer.wait(team)
        try:
            await workspace.client.views_publish(user_id=viewer.user_id, view=view)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "error")
            if exc.response.status_code == 429 or error == "ratelimited":
                wait = parse_retry_after(exc.response.headers.get("Retry-After")) or 30.0
                self._pacer.hold(team, wait)
                self._again_in(wait)
            log.warning("slack views.publish for %s in %s: %s", viewer.user_id, team, error)
            return False
        except (SlackClientError, OSError, TimeoutError) as exc:
            log.warning("slack views.publish for %s in %s: %s", viewer.user_id, team, type(exc).__name__)
            return False
        return True

    # --- refreshing when alerts change -------------------------------------------------------------------
    async def _refresh_loop(self) -> None:
        assert self._stale is not None and self._idle is not None
        while True:
            if not self._stale.is_set():
                self._idle.set()
            await self._stale.wait()
            try:
                await asyncio.sleep(self.coalesce)  # let the rest of a burst of changes arrive
                self._stale.clear()
                await self.refresh()
            except Exception:
                log.exception("slack home: refreshing Homes failed; the next change tries again")

    async def refresh(self) -> int:
        """Republish every Home whose view changed, each person at most once per ``home_refresh_seconds``."""
        published = 0
        now = asyncio.get_running_loop().time()
        locations = await stock_locations(self.runtime.engine)  # once per pass, not per person
        for viewer in await home_viewers(self.runtime.engine):
            shown = self._shown.get((viewer.team_id, viewer.user_id))
            if shown is not None and now - shown.at < self.min_interval:
                self._again_in(shown.at + self.min_interval - now)  # this person's next slot
                continue
            published += await self.show(viewer, locations=locations)
        return published

    def _again_in(self, seconds: float) -> None:
        """Mark Homes stale again in ``seconds`` (the earliest such request wins)."""
        loop = asyncio.get_running_loop()
        due, timer = loop.time() + seconds, self._timer
        pending = timer is not None and not timer.cancelled() and timer.when() > loop.time()
        if timer is not None and pending and timer.when() <= due:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(due, self._mark_stale)
