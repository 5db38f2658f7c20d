"""The notes the core writes on an alert, and how a chat card words them in its reader's language.

An alert's escalation note, resolution note and reason are part of its record: the database, the audit log,
the API, the CLI and the web pages keep and show them in English, as the core wrote them from the templates
below. A card or answer is worded per reader, so :func:`note_text` recognises a note written from one of
these templates and writes it again from the template's translation, each field worded the same way (a
duration inside a reminder, a reason inside a step). Stored notes stay English, so no migration is needed
and notes written before a template was translated are worded too. A note a person typed matches no
template and is shown as typed.

The templates are msgids (``N_``): change one only together with its translations, and never so that two
templates can read the same.
"""

from __future__ import annotations

import re
from functools import lru_cache

from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, tr

# --- escalation notes (bot/alerts.py) -------------------------------------------------------------------
STEP = N_("step {step}: {label}, {reason}")
BY_HAND = N_("escalated by hand")
CRITICAL_AT_ONCE = N_("critical, escalated at once")
KEY_PRODUCT_AT_ONCE = N_("key product, escalated at once")
BUSINESS_IMPACT = N_("business impact: {orders} blocked order(s), {units} unit(s)")
REMINDER = N_("reminder: unacknowledged for {since}")
# --- resolution notes (bot/alerts.py, handlers) ---------------------------------------------------------
RESOLVED_BY_HAND = N_("resolved by hand")
RESOLVED_FROM_SLACK = N_("resolved from the Slack card")
RESOLVED_FROM_TEAMS = N_("resolved from the Teams card")
FLAG_CLEARED = N_("flag cleared")
FLAG_CLEARED_BECAUSE = N_("flag cleared: {reason}")
# --- reasons (a flag with no reason given; bot/forecast.py) ----------------------------------------------
FLAGGED = N_("flagged out of stock")
RUNS_OUT = N_("expected to run out in {when} at the current rate ({rate} a day)")
LESS_THAN_A_DAY = N_("less than a day")
ABOUT_A_DAY = N_("about {days} day")
ABOUT_DAYS = N_("about {days} days")
# --- feed watchdog reasons (bot/watchdog.py) -------------------------------------------------------------
FEED_SILENT = N_("no events from {name} for {duration} (expected every {every})")
FEED_NEVER_HEARD = N_("no events from {name} yet; watched since {since} UTC (expected every {every})")
FEED_RESUMED = N_("events from {name} resumed at {time} UTC")
FEED_UNWATCHED = N_("{name} is no longer watched (no expect_every in [sources.{name}])")
# --- durations inside notes (adapters/message.py duration_text) ------------------------------------------
DAYS = N_("{days} days")

TEMPLATES = (
    STEP,
    BY_HAND,
    CRITICAL_AT_ONCE,
    KEY_PRODUCT_AT_ONCE,
    BUSINESS_IMPACT,
    REMINDER,
    RESOLVED_BY_HAND,
    RESOLVED_FROM_SLACK,
    RESOLVED_FROM_TEAMS,
    FLAG_CLEARED,
    FLAG_CLEARED_BECAUSE,
    FLAGGED,
    RUNS_OUT,
    LESS_THAN_A_DAY,
    ABOUT_A_DAY,
    ABOUT_DAYS,
    FEED_SILENT,
    FEED_NEVER_HEARD,
    FEED_RESUMED,
    FEED_UNWATCHED,
    DAYS,
)
_FIELD = re.compile(r"\{([a-z_]+)\}")


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each template as a pattern that reads its fields back (each field as short as it can be, so it ends
    where the template's next words begin)."""
    found = []
    for template in TEMPLATES:
        pattern, seen = "", set()
        for i, piece in enumerate(_FIELD.split(template)):  # text, field, text, field, …, text
            if i % 2 == 0:
                pattern += re.escape(piece)
            else:  # a field named twice reads the same both times
                pattern += f"(?P={piece})" if piece in seen else f"(?P<{piece}>.+?)"
                seen.add(piece)
        found.append((template, re.compile(pattern, re.DOTALL)))
    return tuple(found)


def note_text(note: str | None, language: str) -> str:
    """``note`` in ``language`` when the core wrote it from a template; else (a person's words) as it is."""
    if not note or language == DEFAULT_LANGUAGE:
        return note or ""
    for template, pattern in _patterns():
        matched = pattern.fullmatch(note)
        if matched:
            fields = {name: note_text(value, language) for name, value in matched.groupdict().items()}
            return tr(language, template).format(**fields)
    return note
