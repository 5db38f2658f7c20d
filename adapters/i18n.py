"""Message catalogs: every word a person reads, in the reader's language, from standard gettext catalogs.

The English wording in the renderers is the catalog's source (the msgid); each other language is one catalog,
``adapters/locale/<lang>/LC_MESSAGES/stockbot.po``, compiled to the ``.mo`` beside it. Both are committed:
the ``.mo`` ships in the wheel as package data, so installing stockbot needs no compiler, and
``tests/test_i18n.py`` fails when a committed ``.mo`` no longer matches its ``.po`` (recompile with
``pybabel compile -d adapters/locale -D stockbot``).

Renderers take a language code (``"es"``) and call :func:`gettext_for`; a language with no catalog, or a
msgid missing from one, reads in English rather than failing a delivery.

The core (``bot/``) never knows who will read what it says, so it does not word refusals itself: it raises a
:class:`WordedError` carrying a :class:`Phrase` (a msgid and its fields, made with :func:`phrase` or
:func:`plural_phrase`), and the front end words it in the reader's language with :func:`said`. ``str()`` of
either is the English, which is what audit rows and logs keep: they are records, not something a person reads
in chat.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

DOMAIN = "stockbot"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "en"  # the msgids: English needs no catalog


def N_(message: str) -> str:
    """Marks a string for extraction where it is defined (tables of words) and translated where it is used."""
    return message


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """The languages stockbot speaks: English and every language with a compiled catalog."""
    shipped = sorted(path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (DEFAULT_LANGUAGE, *shipped)


@lru_cache(maxsize=16)
def translations(language: str) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def gettext_for(language: str) -> Callable[[str], str]:
    """The ``_`` of one language: ``_ = gettext_for(message.language)`` at the top of a renderer."""
    return translations(language).gettext


def tr(language: str, message: str) -> str:
    """One msgid in one language; extracted as the keyword ``tr:2`` (see README)."""
    return translations(language).gettext(message)


def ngettext_for(language: str) -> Callable[[str, str, int], str]:
    """The plural-aware ``ngettext`` of one language (the catalog's ``Plural-Forms`` decides)."""
    return translations(language).ngettext


def language_of(locale: str | None) -> str:
    """The shipped language for a client's locale (Teams ``es-MX``, Slack ``es-LA``, ``es_ES``); English
    when there is none or stockbot does not speak it."""
    code = (locale or "").replace("_", "-").split("-", 1)[0].lower()
    return code if code in languages() else DEFAULT_LANGUAGE


def zone_time(when: datetime, timezone: str = "UTC") -> str:
    """A moment as text in one time zone, its abbreviation included (``2026-11-26 03:30 CST``): e-mail and
    SMS, which cannot localise per reader, and the fallback of chat dates."""
    local = when.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


@dataclass(frozen=True)
class Phrase:
    """Words for a person, kept as a msgid and its fields until the reader's language is known. A field may be
    a Phrase itself (a verb), or a tuple of words (listed with commas), worded in the same language."""

    msgid: str
    fields: Mapping[str, object] = field(default_factory=dict, hash=False)
    plural: str | None = None  # with ``count`` in fields: the catalog's plural form for that number

    def worded(self, language: str) -> str:
        catalog = translations(language)
        if self.plural is None:
            template = catalog.gettext(self.msgid)
        else:
            count = self.fields["count"]
            assert isinstance(count, int)
            template = catalog.ngettext(self.msgid, self.plural, count)
        return template.format(**{key: _worded(value, language) for key, value in self.fields.items()})

    def __str__(self) -> str:
        return self.worded(DEFAULT_LANGUAGE)


def _worded(value: object, language: str) -> object:
    if isinstance(value, Phrase):
        return value.worded(language)
    if isinstance(value, tuple):
        return ", ".join(str(_worded(item, language)) for item in value)
    return value


def phrase(msgid: str, **fields: object) -> Phrase:
    """A msgid with its fields, worded later (extracted as the keyword ``phrase``)."""
    return Phrase(msgid, fields)


def plural_phrase(singular: str, plural: str, count: int, **fields: object) -> Phrase:
    """Like :func:`phrase`, in the plural form ``count`` calls for (extracted as ``plural_phrase:1,2``)."""
    return Phrase(singular, {"count": count, **fields}, plural)


def either(words: tuple[Phrase | str, ...]) -> Phrase | str:
    """``a``, ``a or b``, ``a or b or c``: a choice, with "or" in the reader's language."""
    if len(words) == 1:
        return words[0]
    return phrase("{some} or {last}", some=either(words[:-1]), last=words[-1])


class WordedError(Exception):
    """An error a person reads: ``str()`` is the English (audit rows, logs, the CLI and the API), and
    :func:`said` words it for a chat reader."""

    def __init__(self, reason: Phrase) -> None:
        super().__init__(str(reason))
        self.phrase = reason


def said(reason: object, language: str) -> str:
    """A reason in ``language``: a :class:`Phrase` or an error carrying one, worded; anything else as is."""
    worded = getattr(reason, "phrase", reason)
    return worded.worded(language) if isinstance(worded, Phrase) else str(reason)
