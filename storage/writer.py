"""Group commit: many requests' writes share one transaction, and each request is answered after it commits.

One SQLAlchemy-async commit per request reaches about a tenth of what bare aiohttp serves on this kind of
machine; committing whatever has queued while the previous commit ran keeps durability (the 202 still
waits for the commit) at a fraction of the cost. If a combined batch fails, each request is retried alone so
one bad request cannot fail its neighbours.

The writer runs on an event loop of its own, in its own thread, with its own database connection
(``storage/ingest_rows.py``): on the server's loop each of a batch's round trips would wait behind every
HTTP callback queued meanwhile. On SQLite the writer's thread is the database's thread: a transaction runs
there from BEGIN to COMMIT without a hand-off. Requests hand their items over with one thread-safe call
and wait for the commit. ``apply`` returns, with the results, what to hand ``after_commit`` once the batch
has committed (the ids of the deliveries it queued); when that is None nobody is called, so quiet batches
wake nobody.

On PostgreSQL the writer keeps ``WriterDb.concurrency`` transactions open side by side, each on a connection
of its own: a batch that arrives while one transaction waits on its round trips starts at once on the other.
Their row locks, always taken in the same order, keep them apart as they keep several replicas apart, and a
transaction the server rolls back to break a deadlock (an event id sent twice at once) is run again.

Other work that writes can ride along (:meth:`GroupCommitter.run`): the dispatcher's claims and outcomes
join the next batch's transaction and share its commit. On SQLite that makes the writer the process's only
writer on the hot path: two connections of one process taking turns at the file's lock wait for each other
in the busy handler's sleeps (1, 2, 5, 10 … 100 ms), and the lock is held across every hand-off of the
other connection's statements to the server's busy loop.

Work that may wait a little (``linger``: the dispatcher's outcome marks) does not start a transaction of its
own at once: it waits up to ``linger`` seconds for an ingest batch to ride with. At a steady trickle of
events that saves a commit, and its disk sync, per delivery, and a new event no longer lands behind an
outcome's commit. Nothing is answered before it commits, so nothing is lost by the wait.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from stockbot.storage.db import rolled_back
from stockbot.storage.ingest_rows import Rows, WriterDb

Item = TypeVar("Item")
Result = TypeVar("Result")
Out = TypeVar("Out")
log = logging.getLogger("stockbot.writer")
# Runs of a transaction PostgreSQL rolled back for a deadlock or serialization conflict before its error
# reaches the requests: the writer's concurrent transactions can meet on an event id sent twice at once.
ROLLBACK_ATTEMPTS = 3


@dataclass
class _Request(Generic[Item, Result]):
    items: list[Item]
    done: asyncio.Future[list[Result]]  # belongs to the caller's loop


@dataclass
class _Job:
    """Work given to :meth:`GroupCommitter.run`: called with the transaction's :class:`Rows`."""

    work: Callable[[Rows], Awaitable[Any]]
    done: asyncio.Future[Any]  # belongs to the caller's loop
    due: float = 0.0  # time.monotonic() by which it must have started: a lingering job's deadline


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self,
        open_db: Callable[[], WriterDb],
        apply: Callable[[Rows, list[Item]], Awaitable[tuple[list[Result], Any]]],
        after_commit: Callable[[Any], None] | None = None,
        max_items: int = 2000,
    ) -> None:
        self.open_db = open_db  # called on the writer's thread
        self.apply = apply
        self.after_commit = after_commit
        self.max_items = max_items
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._caller_loop: asyncio.AbstractEventLoop | None = None
        # Requests cross threads through a deque (appends are atomic) and at most one wake-up per idle
        # period: a self-pipe write per request would cost more than the request's own work.
        self._inbox: deque[_Request[Item, Result] | _Job] = deque()
        self._lingering: deque[_Job] = deque()  # jobs that wait for company, oldest (earliest due) first
        self._wake: asyncio.Event | None = None
        self._signalled = False
        self.committed = 0  # transactions committed so far (read by tests and bench/steady.py --stats)

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
        if not self.alive or self._loop is None or self._wake is None:
            raise RuntimeError("the writer is not running")
        request: _Request[Item, Result] = _Request(items, asyncio.get_running_loop().create_future())
        self._inbox.append(request)
        if not self._signalled:
            self._signalled = True
            self._loop.call_soon_threadsafe(self._wake.set)
        return await request.done

    async def run(self, work: Callable[[Rows], Awaitable[Out]], linger: float = 0.0) -> Out:
        """Run ``work`` in the writer's next transaction, with that batch's events, and return what it
        returned once the transaction has committed. ``work`` runs on the writer's thread: it may read what
        it was given, but must touch nothing the caller's loop is changing meanwhile. ``linger``: seconds
        it may wait for other work to share the transaction with, when none is waiting."""
        if not self.alive or self._loop is None or self._wake is None:
            raise RuntimeError("the writer is not running")
        job = _Job(work, asyncio.get_running_loop().create_future(), time.monotonic() + linger)
        if linger > 0:
            self._lingering.append(job)
            if len(self._lingering) == 1:  # the writer may be waiting with no deadline: give it this one
                self._loop.call_soon_threadsafe(self._wake.set)
        else:
            self._inbox.append(job)
            if not self._signalled:
                self._signalled = True
                self._loop.call_soon_threadsafe(self._wake.set)
        result: Out = await job.done
        return result

    # --- the writer's own thread and loop ---------------------------------------------------------------
    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        try:
            db = self.open_db()
        except BaseException:
            self._loop = None  # the writer never ran: submit() refuses, stop() has nothing to stop
            loop.close()
            ready.set()
            raise
        self._main = loop.create_task(self._run(db))
        ready.set()
        try:
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(db.close())
            left = [*self._inbox, *self._lingering]
            self._settle([(r, None, RuntimeError("the writer stopped")) for r in left])
            self._inbox.clear()
            self._lingering.clear()
            loop.close()

    def _shutdown(self) -> None:
        self._main.cancel()

    async def _next_batch(self) -> list[_Request[Item, Result] | _Job]:
        assert self._wake is not None
        while not self._inbox:
            self._signalled = False  # before looking again, so a request appended now wakes us
            if self._inbox:
                break
            wait = self._lingering[0].due - time.monotonic() if self._lingering else None
            if wait is not None and wait <= 0:
                break  # a lingering job waited long enough: it goes alone
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                continue
            self._wake.clear()
        batch: list[_Request[Item, Result] | _Job] = []
        count = 0
        while self._inbox and count < self.max_items:
            entry = self._inbox.popleft()
            batch.append(entry)
            count += len(entry.items) if isinstance(entry, _Request) else 1
        while self._lingering and count < self.max_items:  # they ride along with whatever goes now
            batch.append(self._lingering.popleft())
            count += 1
        return batch

    async def _run(self, db: WriterDb) -> None:
        workers = [asyncio.ensure_future(self._work(db)) for _ in range(max(1, db.concurrency))]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, db: WriterDb) -> None:
        while True:
            batch = await self._next_batch()
            try:
                await self._commit(db, batch)
            except Exception:
                if len(batch) == 1:
                    log.exception("a write failed")
                    continue
                for request in batch:  # isolate the bad request
                    await self._commit(db, [request])

    async def _commit(self, db: WriterDb, batch: list[_Request[Item, Result] | _Job]) -> None:
        requests = [entry for entry in batch if isinstance(entry, _Request)]
        jobs = [entry for entry in batch if isinstance(entry, _Job)]
        items = [item for request in requests for item in request.items]
        for attempt in range(1, ROLLBACK_ATTEMPTS + 1):
            try:
                results, notify, done = await self._transaction(db, items, jobs)
                break
            except Exception as exc:
                if rolled_back(exc) and attempt < ROLLBACK_ATTEMPTS:
                    continue  # two of the writer's own transactions (or replicas') crossed: run it again
                if len(batch) == 1:
                    self._settle([(batch[0], None, exc)])
                    return
                raise
        self.committed += 1
        settled: list[tuple[_Request[Item, Result] | _Job, Any, BaseException | None]] = []
        start = 0
        for request in requests:
            end = start + len(request.items)
            settled.append((request, results[start:end], None))
            start = end
        settled += [(job, result, None) for job, result in zip(jobs, done, strict=True)]
        self._settle(settled, notify)

    async def _transaction(
        self, db: WriterDb, items: list[Item], jobs: list[_Job]
    ) -> tuple[list[Result], Any, list[Any]]:
        results: list[Result] = []
        notify: Any = None
        done: list[Any] = []
        transaction: Any = db.transaction()
        async with transaction as rows:
            if items:
                results, notify = await self.apply(rows, items)
            for job in jobs:
                done.append(await job.work(rows))
        return results, notify, done

    def _settle(
        self,
        outcomes: Sequence[tuple[_Request[Item, Result] | _Job, Any, BaseException | None]],
        notify: Any = None,
    ) -> None:
        """Answer a whole batch with one call into the caller's loop."""

        def answer() -> None:
            for request, result, error in outcomes:
                if request.done.done():
                    continue
                if error is not None:
                    request.done.set_exception(error)
                elif isinstance(request, _Request):
                    request.done.set_result(result or [])
                else:
                    request.done.set_result(result)
            if notify is not None and self.after_commit:
                self.after_commit(notify)

        if self._caller_loop is not None and not self._caller_loop.is_closed() and outcomes:
            self._caller_loop.call_soon_threadsafe(answer)
