"""Where ``../shared`` is, and how a test without it skips (or fails under ``.ci/run``)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("STOCKBOT_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
VENDOR_API_DIR = SHARED_DIR / "vendor-api"


def require_shared() -> Path:
    """Skip when this clone has no ``../shared/vendor-api``; ``STOCKBOT_REQUIRE_SHARED=1`` makes it fail."""
    if VENDOR_API_DIR.is_dir():
        return VENDOR_API_DIR
    reason = (
        f"vendor API descriptions not found at {VENDOR_API_DIR}: this clone has no ../shared "
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
