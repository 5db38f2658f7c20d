"""``stockbot demo``: a real stockbot on a fresh SQLite file, fed a scripted stream of signed demo events.

Everything goes through the production path: HTTP on 127.0.0.1 with signatures, the group-commit writer,
the alert desk, the outbox and the dispatcher, printing to the terminal through the ``console`` adapter.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select, update

from stockbot.adapters.signing import HEADER, sign
from stockbot.bot import logs
from stockbot.bot.config import parse_config
from stockbot.bot.permissions import Actor
from stockbot.bot.runtime import Runtime
from stockbot.handlers.app import build_app
from stockbot.storage.catalog import DEMO_CATALOG, import_rows, parse_csv
from stockbot.storage.tables import alerts, audit_events, stock_levels

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


@dataclass
class Demo:
    runtime: Runtime
    url: str
    secret: str
    http: aiohttp.ClientSession
    speed: float
    counter: int = 0

    def say(self, text: str) -> None:
        print(f"\n{BOLD}▸ {text}{RESET}", flush=True)

    async def pause(self, seconds: float = 1.5, *, real_time: bool = False) -> None:
        await asyncio.sleep(seconds if real_time else seconds / self.speed)
        await self.settle()

    async def settle(self) -> None:
        """Wait until the dispatcher has printed everything queued so far, so narration stays in order."""
        for _ in range(200):
            if await self.runtime.dispatcher.run_once() == 0:
                return

    async def post(self, path: str, payload: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        self.counter += 1
        payload = {
            "event_id": f"demo-{self.counter}",
            "source": "demo",
            "occurred_at": (at or datetime.now(UTC)).isoformat(),
            **payload,
        }
        return await self.post_raw(path, payload)

    async def post_raw(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(self.secret, body)}
        async with self.http.post(self.url + path, data=body, headers=headers) as response:
            answer = await response.json(content_type=None)
            outcome = ", ".join(r["outcome"] for r in answer.get("results", [])) or answer.get("detail")
            print(f"{DIM}  POST {path} → {response.status} {outcome}{RESET}", flush=True)
            return answer


def _demo_config(database: Path, secret: str) -> dict[str, Any]:
    return {
        "storage": {"url": f"sqlite:///{database}"},
        "sources": {"demo": {"secret": secret}},
        "alerts": {"escalation_sweep_interval": "1s", "batch_check_interval": "1h"},
        "channels": {
            "sales": {"adapter": "console", "address": "#sales"},
            "managers": {"adapter": "console", "address": "#managers"},
        },
        "routes": [{"channels": ["sales"], "escalate_to": ["managers"], "escalate_after": "8s"}],
        "roles": {"rep": ["dana"], "warehouse": ["sam"], "manager": ["morgan"]},
    }


REP = Actor(id="dana", via="demo", name="Dana (sales rep)")
WAREHOUSE = Actor(id="sam", via="demo", name="Sam (warehouse)")
MANAGER = Actor(id="morgan", via="demo", name="Morgan (sales manager)")


async def _alert_id(runtime: Runtime, sku: str, location: str) -> int:
    async with runtime.engine.connect() as conn:
        query = select(alerts.c.id).where(alerts.c.sku == sku, alerts.c.location == location)
        return (await conn.execute(query.order_by(alerts.c.id.desc()).limit(1))).scalar_one()


async def script(demo: Demo) -> None:
    runtime = demo.runtime
    now = datetime.now(UTC)
    demo.say("The ERP reports healthy stock of the Godzilla Pro pinball table in Chicago: no alert.")
    await demo.post("/events/inventory", {"sku": "PIN-GODZ-PRO", "location": "Chicago DC", "on_hand": 4})
    await demo.pause()

    demo.say("Two tables sell at the POS: 1 left against a minimum of 2, so a low-stock alert opens.")
    await demo.post("/events/inventory", {"sku": "PIN-GODZ-PRO", "location": "Chicago DC", "on_hand": 1})
    await demo.pause()

    demo.say(
        "The warehouse system says the Toy Soldier claw machine (a key product) is out in Las Vegas: "
        "critical, so management hears at once."
    )
    await demo.post(
        "/events/inventory",
        {"sku": "CLAW-TOYSOLDIER", "location": "Las Vegas Showroom", "status": "out_of_stock"},
    )
    await demo.pause()

    demo.say(
        "Order SO-1042 for two Street Fighter II cabinets cannot be fulfilled: the alert carries the order."
    )
    await demo.post(
        "/events/fulfillment-failed",
        {
            "sku": "CAB-SF2-CE",
            "location": "Chicago DC",
            "order_id": "SO-1042",
            "requested": 2,
            "available": 0,
            "rep": "dana",
        },
    )
    await demo.pause()

    demo.say(
        "Dana, a sales rep, acknowledges the Godzilla alert (a click in Slack or Teams calls the same code)."
    )
    await runtime.desk.acknowledge(await _alert_id(runtime, "PIN-GODZ-PRO", "Chicago DC"), REP)
    await demo.pause()

    demo.say("Sam in the warehouse finds the trackballs water-damaged and flags them out by hand (/oos).")
    await runtime.desk.flag("PART-TRACKBALL", "Chicago DC", WAREHOUSE, "water damage in aisle 4")
    await demo.pause()

    demo.say(
        "The ERP retries an event it already sent, and a late event arrives out of order: "
        "the retry is applied once, the late one does not move the level back."
    )
    await demo.post_raw(
        "/events/inventory",
        {
            "event_id": "demo-2",
            "source": "demo",
            "sku": "PIN-GODZ-PRO",
            "location": "Chicago DC",
            "on_hand": 1,
            "occurred_at": now.isoformat(),
        },
    )
    await demo.post(
        "/events/inventory",
        {"sku": "PIN-GODZ-PRO", "location": "Chicago DC", "on_hand": 9},
        at=now - timedelta(hours=1),
    )
    await demo.pause()

    demo.say(
        "A level drops without any event reaching us (a missed webhook); the scheduled batch check finds it."
    )
    async with runtime.engine.begin() as conn:
        await conn.execute(
            update(stock_levels)
            .where(stock_levels.c.sku == "PART-LCD-32", stock_levels.c.location == "Chicago DC")
            .values(on_hand=3)
        )
    await runtime.desk.batch_check()
    await demo.pause()

    demo.say("Morgan, a manager, escalates the LCD monitor shortage by hand.")
    await runtime.desk.escalate(await _alert_id(runtime, "PART-LCD-32", "Chicago DC"), MANAGER)
    await demo.pause()

    demo.say("Nobody acknowledges the trackball alert; 8 seconds after it opened it escalates to #managers.")
    await demo.pause(8, real_time=True)

    demo.say("Restocks arrive: the alerts resolve, and every card says how long the product was out.")
    for sku, location, on_hand in [
        ("PIN-GODZ-PRO", "Chicago DC", 6),
        ("CLAW-TOYSOLDIER", "Las Vegas Showroom", 5),
        ("CAB-SF2-CE", "Chicago DC", 4),
    ]:
        await demo.post("/events/inventory", {"sku": sku, "location": location, "on_hand": on_hand})
    await demo.pause()
    await summary(runtime)


async def summary(runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        states: dict[str, int] = dict(
            (await conn.execute(select(alerts.c.state, func.count()).group_by(alerts.c.state))).all()
        )
        audit_rows = (await conn.execute(select(func.count()).select_from(audit_events))).scalar_one()
    print(f"\n{BOLD}Done.{RESET} Alerts by state: {states}; {audit_rows} rows in the audit log.")


async def play(port: int, speed: float, keep_running: bool, database: Path) -> None:
    logs.configure("warning")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - before any I/O starts
    secret = secrets.token_hex(16)
    runtime = await Runtime.create(parse_config(_demo_config(database, secret), env={}))
    async with runtime.engine.begin() as conn:
        products, levels = await import_rows(conn, parse_csv(DEMO_CATALOG.read_text()), seed_levels=True)
    print(
        f"{BOLD}stockbot demo{RESET}: {products} arcade products at {levels} product-locations "
        f"(SQLite file {database}); alerts print below as they would reach #sales and #managers."
    )
    runner = web.AppRunner(build_app(runtime), access_log=None)
    await runner.setup()
    url = f"http://127.0.0.1:{port}"
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"{DIM}listening on {url} (GET /healthz, /metrics, /openapi.json){RESET}")
        async with aiohttp.ClientSession() as http:
            await script(Demo(runtime, url, secret, http, speed))
        if keep_running:
            print(f"\nstockbot keeps running at {url}; try `curl {url}/healthz`. Press Ctrl-C to stop.")
            await asyncio.Event().wait()
    finally:
        await runner.cleanup()
