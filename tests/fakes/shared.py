"""Where ``../shared`` is, and how a test without it skips (or fails under ``.ci/run``)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("STOCKBOT_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
VENDOR_API_DIR = SHARED_DIR / "vendor-api"
MANIFEST_SCHEMA_DIR = SHARED_DIR / "manifest-schemas"


def require_shared(directory: Path = VENDOR_API_DIR, what: str = "vendor API descriptions") -> Path:
    """Skip when this clone has no ``directory`` in ../shared; ``STOCKBOT_REQUIRE_SHARED=1`` makes it fail."""
    if directory.is_dir():
        return directory
    reason = (
        f"{what} not found at {directory}: this clone has no ../shared "
        "(set STOCKBOT_SHARED_DIR to point at one)"
    )
    if os.environ.get("STOCKBOT_REQUIRE_SHARED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((VENDOR_API_DIR / name).read_text())


def vendor_spec(platform_file: str) -> dict[str, Any]:
    """The description in ``../shared/vendor-api/<platform_file>.json`` (read in place, never copied)."""
    require_shared()
    return _load(f"{platform_file}.json")


def vector(name: str) -> dict[str, Any]:
    require_shared()
    return _load(f"vectors/{name}.json")


def manifest_validator(schema_file: str, draft: type[Validator]) -> Validator:
    """A ``draft`` validator for the official manifest schema ``../shared/manifest-schemas/<schema_file>``.

    Read in place, never copied. The schema must declare ``draft`` and be valid under it, so a schema file
    swapped for another draft fails here instead of being half-enforced; formats are checked where jsonschema
    can.
    """
    directory = require_shared(MANIFEST_SCHEMA_DIR, "official app manifest schemas")
    schema = json.loads((directory / schema_file).read_text())
    declared = validator_for(schema, default=None)
    assert declared is draft, f"{schema_file} declares {schema.get('$schema')!r}, not {draft.__name__}"
    draft.check_schema(schema)
    return draft(schema, format_checker=draft.FORMAT_CHECKER)


def schema_errors(validator: Validator, instance: Any) -> list[tuple[str, str]]:
    """Every error as (dotted path, message), e.g. ``("name.short", "'…' is too long")``."""
    return [(".".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(instance)]
