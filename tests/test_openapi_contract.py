"""The OpenAPI document says exactly what the server accepts: schemathesis runs over ``/openapi.json``
against the real app with every check, positive and negative data, every request signed
(``tests/schemathesis_hooks.py``), and finds nothing.

One worker only: several trip a hypothesis FlakyFailure on Python 3.11.7 (../shared/DEPENDENCIES.md). The
run is bounded by ``--max-examples`` and ``--max-time``. It runs on PostgreSQL, whose column types are the
stricter: a value the document allows and a column cannot hold would show up as a 500 there first.

``occurred_at`` may not be more than ``[alerts] max_clock_skew`` ahead of the server clock, a rule no
static schema can state (it is in the document's description, and tested in test_hostile_input.py). Here
the skew is set past the documented last year, so generated dates are judged by the schema's rules alone.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import HarnessFactory
from tests.helpers import ERP_SECRET

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_schemathesis_finds_the_document_exact(stockbot: HarnessFactory, tmp_path: Path) -> None:
    harness = await stockbot(alerts={"max_clock_skew": "400000d"})
    assert harness.runtime is not None
    harness.runtime.dispatcher.start()  # so /readyz answers 200 (503 is documented too)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
        "STOCKBOT_TEST_SOURCE": "erp",
        "STOCKBOT_TEST_SECRET": ERP_SECRET,
        "STOCKBOT_TEST_NOW": str(int(harness.clock.now().timestamp())),
        "PYTHONPATH": str(ROOT),  # for tests.schemathesis_hooks; the run's own files go to tmp_path
    }
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{harness.url}/openapi.json",
        "--checks=all",
        "--mode=all",
        "--workers=1",
        "--max-examples=50",
        "--max-time=25",
        "--seed=20261126",
        "--generation-database=none",
        "--no-color",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-20000:]
    assert "No issues found" in report, report[-20000:]
