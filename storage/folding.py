"""One rule for matching SKUs and locations: ASCII letters ignore case, everything else must match exactly.

``cab-dk-jr`` finds ``CAB-DK-JR``, and ``chicago dc`` finds ``Chicago DC``; ``DÜSSELDORF`` does not find
``Düsseldorf`` on either database. The catalog's spelling is the one stored everywhere else (levels,
events, alerts), so one product never splits into two rows.

Only ASCII is folded because that is what both databases can do alike: SQLite's ``lower()`` folds ASCII only,
and PostgreSQL's ``lower()`` folds ASCII only under the ``"C"`` collation (with any other collation it folds
by the locale, which SQLite cannot match). :func:`fold` is the same rule in Python, so a value folded here
compares equal to the same value folded by either database, and the expression indexes on
``folded(column)`` (storage/tables.py) serve the lookups.
"""

from __future__ import annotations

import string
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(text: str) -> str:
    """``text`` with A–Z made a–z and nothing else changed: the key two spellings are compared by."""
    # On ASCII text str.lower is exactly that, and ~9× faster than translate (every event folds ~5 names)
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def same(a: str, b: str) -> bool:
    return fold(a) == fold(b)


class folded(FunctionElement[str]):  # lower case: it reads like sqlalchemy's func.* constructs
    """``folded(column)`` in SQL: the database's ASCII-only lower case of ``column`` (see the module)."""

    type = String()
    name = "folded"
    inherit_cache = True


@compiles(folded)
def _folded_sqlite(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _folded_postgresql(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f'lower({compiler.process(element.clauses, **kw)} COLLATE "C")'
