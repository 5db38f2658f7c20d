"""Sample alert messages for adapter and renderer tests: the product's one sample (adapters/message.py)."""

from __future__ import annotations

from stockbot.adapters.message import SAMPLE_OPENED_AT as OPENED
from stockbot.adapters.message import resolved_sample as resolved_message
from stockbot.adapters.message import sample_message

__all__ = ["OPENED", "resolved_message", "sample_message"]
