"""The database's outages, audited once each, not once per refused request.

While the database is away every request that needs it is answered 503 with ``Retry-After``
(``handlers/app.py``), and each one only counts here. The first logs one error line. When the database
answers again (the next readiness probe, or the scheduler's outage sweep), one ``database.unavailable``
audit row records the outage: since when, until when, how many requests were refused, and the first error.
The latch is per process: with several replicas, each writes the row for what it saw.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.bot.clock import Clock
from stockbot.storage.audit import audit_row, record
from stockbot.storage.db import ended_by_server, unavailable

log = logging.getLogger("stockbot.outage")
# What a 503 asks the client to wait before retrying, in seconds.
RETRY_AFTER_SECONDS = 5


class Outage:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.since: datetime | None = None
        self.refused = 0
        self.first_error = ""
        self._closing = asyncio.Lock()

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def seen(self, exc: BaseException, *, refused: bool = True) -> None:
        """The database failed a request (``refused``) or a probe; the first failure opens the outage."""
        if self.since is None:
            self.since, self.refused = self.clock.now(), 0
            self.first_error = _describe(exc)
            log.error("database unavailable: %s; answering 503 until it is back", self.first_error)
        if refused:
            self.refused += 1

    async def over(self) -> bool:
        """The database answered again: write the outage's audit row. False if that write failed too (the
        outage goes on); true when there is no outage (anymore)."""
        async with self._closing:
            if self.since is None:
                return True
            until = self.clock.now()
            row = audit_row(
                until,
                "database.unavailable",
                "stockbot",
                since=self.since.isoformat(),
                until=until.isoformat(),
                refused=self.refused,
                error=self.first_error,
            )
            try:
                await record(self.engine, row)
            except Exception as exc:
                if not unavailable(exc):
                    raise
                self.seen(exc, refused=False)
                return False
            log.warning(
                "database back after %s; %d request(s) were answered 503", until - self.since, self.refused
            )
            self.since = None
            return True


def _describe(exc: BaseException) -> str:
    """The error in one line, without the SQL and the parameters SQLAlchemy appends."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()
    described = f"{type(exc).__name__}: {text[0] if text else ''}"
    if ended_by_server(exc):  # asyncpg's own words name a protocol state, not what happened
        described = f"the server ended the database session (restart, outage, closed backend); {described}"
    return described[:300]
