"""Per-channel wording: ``[channels.NAME] template``, a sandboxed Jinja2 template over the alert's fields.

A template is checked at start-up (compiled, then rendered against sample alerts built here), so a bad one
is a config error that names the channel and the line, never a failed delivery at 3 a.m. The dispatcher
renders it into :attr:`AlertMessage.custom_text` just before each attempt; the renderers put that text in
place of their built-in body (the headline, buttons and status stay). Should a template still fail on a
real alert, the delivery goes out with the built-in wording and a warning is logged.

The template sees every :class:`AlertMessage` field (``sku``, ``product_name``, ``location``, ``on_hand``,
``minimum``, ``severity``, ``state``, ``event``, ``opened_at``, ``blocked_orders``, …) plus ``headline``,
``status_line``, ``level_text``, ``severity_text``, ``trigger_text``, ``blocked_quantity``, ``is_resolved``
and ``channel``. It is plain text (no HTML escaping); an unknown name is an error, not an empty string.
Output that is blank after trimming means "use the built-in wording" for that alert.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from datetime import timedelta
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from stockbot.adapters.base import AlertMessage, redact
from stockbot.adapters.message import resolved_sample, sample_message
from stockbot.adapters.render import text
from stockbot.bot.config import ChannelConfig, Config

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger("stockbot.templates")


@cache
def environment() -> ImmutableSandboxedEnvironment:
    """Jinja, loaded only when a channel has a template (about 9 MiB otherwise spent at every start).

    Immutable: a template can read the alert but not change lists or dicts it is handed."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )


_TEMPLATE_FILE = "<template>"  # the file name Jinja gives frames of a template built from a string


@lru_cache(maxsize=256)
def compiled(source: str) -> Template:
    """Compile once per distinct template text (raises :class:`TemplateSyntaxError`)."""
    return environment().from_string(source)


def context(message: AlertMessage, channel: str) -> dict[str, Any]:
    """What a template sees: the message's fields and the built-in wording's pieces."""
    hidden = ("custom_text", "digest")
    fields = {name: getattr(message, name) for name in message.__dataclass_fields__ if name not in hidden}
    return {
        **fields,
        "headline": text.headline(message),
        "status_line": text.status_line(message),
        "level_text": text.level_text(message),
        "severity_text": text.severity_label(message.severity, message.language),
        "trigger_text": text.trigger_label(message.trigger, message.language),
        "blocked_quantity": message.blocked_quantity,
        "is_resolved": message.is_resolved,
        "channel": channel,
    }


def render(source: str, message: AlertMessage, channel: str) -> str | None:
    """The channel's text for ``message``; None when the template renders blank."""
    return compiled(source).render(context(message, channel)).strip() or None


def apply(message: AlertMessage, name: str, channel: ChannelConfig | None) -> AlertMessage:
    """``message`` with the channel's wording in ``custom_text``; unchanged when the channel has no template,
    for a digest (several alerts: the digest's own wording), or when the template fails on this alert (logged:
    the built-in wording goes out instead)."""
    source = channel.template if channel is not None else None
    if not source or message.digest:
        return message
    try:
        custom = render(source, message, name)
    except Exception as error:  # any template failure: deliver with the built-in wording, never fail
        log.warning(
            "%s; alert #%s was sent with the built-in wording",
            problem(name, error),
            message.alert_id,
        )
        return message
    return replace(message, custom_text=custom)


# --- the start-up check ----------------------------------------------------------------------------------


def validate_templates(config: Config) -> list[str]:
    """One problem per channel whose template does not compile or fails on a sample alert, worded like
    every config error: ``channels.NAME.template, line N: what is wrong``."""
    problems = []
    for name, channel in config.channels.items():
        if channel.template is None:
            continue
        found = check(name, channel.template)
        if found:
            problems.append(found)
    return problems


def check(name: str, source: str) -> str | None:
    from jinja2 import TemplateSyntaxError

    try:
        compiled(source)
    except TemplateSyntaxError as error:
        return f"channels.{name}.template, line {error.lineno}: {error.message}"
    for index, (what, message) in enumerate(samples().items()):
        try:
            render(source, message, name)
        except Exception as error:
            found = problem(name, error)
            return found if index == 0 else f"{found} (rendering {what})"
    return None


def problem(name: str, error: Exception) -> str:
    """``channels.NAME.template, line N: message``: the line from Jinja's template frames."""
    from jinja2 import TemplateSyntaxError

    if isinstance(error, TemplateSyntaxError):
        line: int | None = error.lineno
        why = error.message or str(error)
    else:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == _TEMPLATE_FILE]
        line = frames[-1].lineno if frames else None
        why = str(error) or type(error).__name__
    where = f"channels.{name}.template" + (f", line {line}" if line else "")
    return redact(f"{where}: {why}")


@lru_cache(maxsize=1)
def samples() -> dict[str, AlertMessage]:
    """Alerts a template must render: a fresh critical one with every detail, one a person flagged whose
    level is unknown (acknowledged and escalated), and a resolved one."""
    opened = sample_message(actor="erp", reason="sales order could not be fulfilled")
    opened_at = opened.opened_at
    later = opened_at + timedelta(minutes=20)
    flagged = replace(
        opened,
        event="escalated",
        on_hand=None,
        critical_level=None,
        key_product=False,
        severity="out",
        state="escalated",
        trigger="manual",
        updated_at=later,
        actor="lee",
        reason="flagged out of stock",
        blocked_orders=(),
        acknowledged_by="dana",
        acknowledged_at=later,
        escalated_by="stockbot",
        escalated_at=later,
        escalation_level=1,
        escalation_note="step 2: managers, 15 min unacknowledged",
        last_source=None,
        last_changed_at=None,
        link=None,
        mentions=("S0MANAGERS",),
    )
    resolved = resolved_sample(actor="erp", reason="sales order could not be fulfilled")
    return {
        "an opened alert": opened,
        "an acknowledged, escalated alert with an unknown level": flagged,
        "a resolved alert": resolved,
    }
