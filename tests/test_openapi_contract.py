"""The OpenAPI document says exactly what the server accepts: schemathesis runs over ``/openapi.json``
against the real app with every check, positive and negative data, every request signed
(``tests/schemathesis_hooks.py``), and finds nothing.

One worker only: several trip a hypothesis FlakyFailure on Python 3.11.7 (../shared/DEPENDENCIES.md). The
run is bounded by ``--max-examples`` and ``--max-time``. It runs on PostgreSQL, whose column types are the
stricter: a value the document allows and a column cannot hold would show up as a 500 there first.

``occurred_at`` may not be more than ``[alerts] max_clock_skew`` ahead of the server clock, a rule no
static schema can state (it is in the document's description, and tested in test_hostile_input.py). Here
the skew is set past the documented last year, so generated dates are judged by the schema's rules alone.

The report API (``/api/v1``) is called with a manager's token (the hooks add it), so its operations are
exercised past the bearer-token check; ``ignored_auth`` probes still go without it and expect 401.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from schemathesis.core.warnings import SchemathesisWarning

from stockbot.bot.access import api_token_hash
from tests.conftest import HarnessFactory
from tests.helpers import ERP_SECRET

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
API_TOKEN = "sbt_schemathesis_token_0123456789abcdef"
# Every warning but missing_test_data: generated alert ids and SKUs name nothing in an empty database, so
# /api/v1/alerts/{id} and /api/v1/stock/{sku} answer their documented 404 (tests/test_api.py covers them
# with data); any other warning still fails the run.
WARNINGS = ",".join(w.value for w in SchemathesisWarning if w is not SchemathesisWarning.MISSING_TEST_DATA)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_schemathesis_finds_the_document_exact(stockbot: HarnessFactory, tmp_path: Path) -> None:
    harness = await stockbot(
        alerts={"max_clock_skew": "400000d"},
        api={"tokens": [{"name": "schemathesis", "hash": api_token_hash(API_TOKEN), "roles": ["manager"]}]},
    )
    assert harness.runtime is not None
    harness.runtime.dispatcher.start()  # so /readyz answers 200 (503 is documented too)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
        "STOCKBOT_TEST_SOURCE": "erp",
        "STOCKBOT_TEST_SECRET": ERP_SECRET,
        "STOCKBOT_TEST_API_TOKEN": API_TOKEN,
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
        f"--warnings={WARNINGS}",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-20000:]
    assert "No issues found" in report, report[-20000:]
