"""Group commit: many requests' writes share one transaction, and each request is answered after it commits.

One SQLAlchemy-async commit per request reaches about a tenth of what bare aiohttp serves on this kind of
machine; committing whatever has queued while the previous commit ran keeps durability (the 202 still
waits for the commit) at a fraction of the cost. If a combined batch fails, each request is retried alone so
one bad request cannot fail its neighbours.

The writer runs on an event loop of its own, in its own thread, with its own engine: a batch makes a dozen
database round trips, and on the server's loop each of them would wait behind every HTTP callback queued
meanwhile. Requests hand their items over with one thread-safe call and wait for the commit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Item = TypeVar("Item")
Result = TypeVar("Result")
log = logging.getLogger("stockbot.writer")


@dataclass
class _Request(Generic[Item, Result]):
    items: list[Item]
    done: Future[list[Result]] = field(default_factory=Future)


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self,
        engine_factory: Callable[[], AsyncEngine],
        apply: Callable[[AsyncConnection, list[Item]], Awaitable[list[Result]]],
        after_commit: Callable[[list[Result]], None] | None = None,
        max_items: int = 2000,
    ) -> None:
        self.engine_factory = engine_factory
        self.apply = apply
        self.after_commit = after_commit
        self.max_items = max_items
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Request[Item, Result]] | None = None
        self._caller_loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle (called from the server's loop) --------------------------------------------------------
    def start(self) -> None:
        if self.alive:
            return
        self._caller_loop = asyncio.get_running_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="stockbot-writer", daemon=True
        )
        self._thread.start()
        ready.wait()

    async def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop, thread = self._loop, self._thread
        loop.call_soon_threadsafe(self._shutdown)
        await asyncio.to_thread(thread.join)
        self._loop = self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def submit(self, items: list[Item]) -> list[Result]:
        """Return once ``items`` are committed (or raise why they could not be)."""
        if not self.alive or self._loop is None or self._queue is None:
            raise RuntimeError("the writer is not running")
        request: _Request[Item, Result] = _Request(items)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, request)
        return await asyncio.wrap_future(request.done)

    # --- the writer's own thread and loop ---------------------------------------------------------------
    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._queue = asyncio.Queue()
        engine = self.engine_factory()
        self._main = loop.create_task(self._run(engine))
        ready.set()
        try:
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(engine.dispose())
            self._fail_waiting(RuntimeError("the writer stopped"))
            loop.close()

    def _shutdown(self) -> None:
        self._main.cancel()

    def _fail_waiting(self, error: Exception) -> None:
        while self._queue is not None and not self._queue.empty():
            request = self._queue.get_nowait()
            if not request.done.done():
                request.done.set_exception(error)

    async def _run(self, engine: AsyncEngine) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            count = len(batch[0].items)
            while count < self.max_items and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                count += len(batch[-1].items)
            try:
                await self._commit(engine, batch)
            except Exception:
                if len(batch) == 1:
                    log.exception("a write failed")
                    continue
                for request in batch:  # isolate the bad request
                    await self._commit(engine, [request])

    async def _commit(self, engine: AsyncEngine, batch: list[_Request[Item, Result]]) -> None:
        items = [item for request in batch for item in request.items]
        try:
            async with engine.begin() as conn:
                results = await self.apply(conn, items)
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0].done.done():
                    batch[0].done.set_exception(exc)
                return
            raise
        if self.after_commit and self._caller_loop is not None:
            self._caller_loop.call_soon_threadsafe(self.after_commit, results)
        start = 0
        for request in batch:
            end = start + len(request.items)
            if not request.done.done():
                request.done.set_result(results[start:end])
            start = end
