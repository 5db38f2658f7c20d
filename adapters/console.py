"""Prints alerts readably in the terminal: the demo's output and a handy channel while wiring a route.

Address: anything (a label shown in brackets, e.g. ``ops``). Always succeeds.
"""

from __future__ import annotations

import sys
from typing import ClassVar, TextIO

import aiohttp

from stockbot.adapters.base import ALL_EVENTS, AdapterSettings, AlertMessage, Receipt, Target
from stockbot.adapters.render.text import headline, level_text, status_line

_COLOURS = {"low": "\033[33m", "out": "\033[31m", "critical": "\033[1;31m", "resolved": "\033[32m"}
_RESET = "\033[0m"


class ConsoleSettings(AdapterSettings):
    colour: bool | None = None  # default: colour when the terminal supports it


class ConsoleAdapter:
    name: ClassVar[str] = "console"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = ConsoleSettings

    def __init__(
        self,
        settings: ConsoleSettings,
        http: aiohttp.ClientSession | None,
        out: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.out = out

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        out = self.out or sys.stdout
        colour = self.settings.colour if self.settings.colour is not None else out.isatty()
        key = "resolved" if message.is_resolved else message.severity
        start, end = (_COLOURS.get(key, ""), _RESET) if colour else ("", "")
        line = (
            f"{start}[{target.address}] #{message.alert_id} {message.event:<12} {headline(message)}"
            f" — {level_text(message)} — {status_line(message)}{end}"
        )
        print(line, file=out, flush=True)
        return Receipt(external_id=target.external_id or f"console-{message.alert_id}")
