"""Which event loop the process runs on. Imports nothing of stockbot's: the benchmarks' bare aiohttp server
takes the same loop without loading the product."""

from __future__ import annotations

import asyncio


def use_fast_event_loop() -> str:
    """uvloop where it is installed (every platform but Windows): the event loop's own work, a large share of
    each request's, then runs in C. The writer's thread makes its loop by the same policy. Returns which."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"
