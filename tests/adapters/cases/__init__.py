"""One :class:`AdapterCase` per registered adapter, in ``tests/adapters/cases/<name>.py`` as ``CASE``.

The contract test (``tests/adapters/test_contract.py``) runs every scenario over every case; an adapter
without a case fails that test, so the registry and its tests cannot drift apart.

A case says how to point its adapter at a :class:`~tests.fakes.vendor.FakeVendor`:
- ``configure(fake)`` binds the fake to the vendor's file in ``../shared/vendor-api`` (``describe_by``), which
  then checks every request, token calls and follow-ups included, and registers the routes the adapter calls
  with their answers; the route named ``main_operation`` is the one the contract test makes fail. Only a
  destination without a vendor file (our webhook, Apprise's JSON plugin) gives a schema of its own;
- ``settings(base_url)`` returns the ``[adapters.NAME]`` section (``base_url``/``token_url`` = the fake);
- ``address`` is a natural channel address on that platform; ``secrets`` are the configured credential values
  that must never appear in an error or a log line;
- ``check_sent(fake)`` asserts what a successful send put on the wire beyond the schema (the SKU, …).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.vendor import FakeVendor


@dataclass
class AdapterCase:
    name: str
    configure: Callable[[FakeVendor], None]
    settings: Callable[[str], dict[str, Any]]
    address: str
    main_operation: str
    secrets: list[str] = field(default_factory=list)
    check_sent: Callable[[FakeVendor], None] | None = None
    external_id: str | None = None  # what the receipt must carry after a success, if known
    channel_secret: str | None = None
    http: bool = True  # False for adapters that make no HTTP request (console)
    address_for: Callable[[str], str] | None = None  # the address when it contains the fake's URL
    adapter_kwargs: Callable[[str], dict[str, Any]] | None = None  # process services (Teams' conversations)
    retry_after_hidden: bool = False  # the adapter cannot see Retry-After (Apprise hides response headers)


def load_case(name: str) -> AdapterCase:
    return importlib.import_module(f"tests.adapters.cases.{name}").CASE
