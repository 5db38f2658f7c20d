"""Group commit: many requests' writes share one transaction, and each request is answered after it commits.

One SQLAlchemy-async commit per request reaches about a tenth of what bare aiohttp serves on this kind of
machine; committing whatever has queued while the previous commit ran keeps durability (the 202 still
waits for the commit) at a fraction of the cost. If a combined batch fails, each request is retried alone so
one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Item = TypeVar("Item")
Result = TypeVar("Result")
log = logging.getLogger("stockbot.writer")


@dataclass
class _Request(Generic[Item, Result]):
    items: list[Item]
    done: asyncio.Future[list[Result]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self,
        engine: AsyncEngine,
        apply: Callable[[AsyncConnection, list[Item]], Awaitable[list[Result]]],
        after_commit: Callable[[list[Result]], None] | None = None,
        max_items: int = 2000,
    ) -> None:
        self.engine = engine
        self.apply = apply
        self.after_commit = after_commit
        self.max_items = max_items
        self._queue: asyncio.Queue[_Request[Item, Result]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stockbot-group-commit")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, items: list[Item]) -> list[Result]:
        """Return once ``items`` are committed (or raise why they could not be)."""
        if not self.alive:
            raise RuntimeError("the writer is not running")
        request: _Request[Item, Result] = _Request(items)
        await self._queue.put(request)
        return await request.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            count = len(batch[0].items)
            while count < self.max_items and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                count += len(batch[-1].items)
            try:
                await self._commit(batch)
            except Exception:
                if len(batch) == 1:
                    raise
                for request in batch:  # isolate the bad request
                    await self._commit([request])

    async def _commit(self, batch: list[_Request[Item, Result]]) -> None:
        items = [item for request in batch for item in request.items]
        try:
            async with self.engine.begin() as conn:
                results = await self.apply(conn, items)
        except Exception as exc:
            if len(batch) == 1 and not batch[0].done.done():
                batch[0].done.set_exception(exc)
                return
            raise
        if self.after_commit:
            self.after_commit(results)
        start = 0
        for request in batch:
            end = start + len(request.items)
            if not request.done.done():
                request.done.set_result(results[start:end])
            start = end
