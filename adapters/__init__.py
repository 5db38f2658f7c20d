"""The adapter registry: ``[channels.X] adapter = NAME`` → the class that delivers there.

A dict literal of import paths, so adding a platform is one line here and importing a heavy SDK (boto3,
twilio) happens only when a channel uses it. The contract is in :mod:`adapters.base`.

Floor 1: may import only adapters and storage, never bot, scheduler or handlers (tests/test_layers.py).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import aiohttp

from stockbot.adapters.base import Adapter, AdapterSettings

ADAPTERS: dict[str, str] = {
    "console": "stockbot.adapters.console:ConsoleAdapter",
    "webhook": "stockbot.adapters.webhook:WebhookAdapter",
    "slack": "stockbot.adapters.slack:SlackAdapter",
    "teams": "stockbot.adapters.teams:TeamsAdapter",
    "teams_webhook": "stockbot.adapters.teams_webhook:TeamsWebhookAdapter",
    "twilio_sms": "stockbot.adapters.twilio_sms:TwilioSmsAdapter",
    "sendgrid": "stockbot.adapters.sendgrid:SendGridAdapter",
    "mailgun": "stockbot.adapters.mailgun:MailgunAdapter",
    "gmail": "stockbot.adapters.gmail:GmailAdapter",
    "outlook": "stockbot.adapters.outlook:OutlookAdapter",
    "sns": "stockbot.adapters.sns:SnsAdapter",
    "zendesk": "stockbot.adapters.zendesk:ZendeskAdapter",
    "salesforce": "stockbot.adapters.salesforce:SalesforceAdapter",
    "hubspot": "stockbot.adapters.hubspot:HubSpotAdapter",
    "zoho_crm": "stockbot.adapters.zoho_crm:ZohoCrmAdapter",
    "pipedrive": "stockbot.adapters.pipedrive:PipedriveAdapter",
    "jira": "stockbot.adapters.jira:JiraAdapter",
    "trello": "stockbot.adapters.trello:TrelloAdapter",
    "asana": "stockbot.adapters.asana:AsanaAdapter",
    "monday": "stockbot.adapters.monday:MondayAdapter",
    "sap_b1": "stockbot.adapters.sap_b1:SapB1Adapter",
    "netsuite": "stockbot.adapters.netsuite:NetSuiteAdapter",
    "quickbooks": "stockbot.adapters.quickbooks:QuickBooksAdapter",
    "apprise": "stockbot.adapters.apprise:AppriseAdapter",
}


# Adapters whose vendor SDK is an optional extra: adapter → (the module it imports, the extra installing it).
# pyproject.toml's [project.optional-dependencies] must offer each extra (tests/test_extras.py checks).
EXTRAS: dict[str, tuple[str, str]] = {
    "twilio_sms": ("twilio", "twilio"),
    "sendgrid": ("sendgrid", "sendgrid"),
    "sns": ("boto3", "sns"),
    "apprise": ("apprise", "apprise"),
}


class MissingExtra(ImportError):
    """An adapter's optional SDK is not installed; the message names the adapter and the pip command."""


def require_extra(name: str) -> None:
    """Import the optional SDK adapter ``name`` needs, or raise MissingExtra saying how to install it.

    It runs when the config is read (``stockbot config check``, start-up), so a missing SDK stops the
    process there rather than failing every delivery to the channel later.
    """
    if name not in EXTRAS:
        return
    module, extra = EXTRAS[name]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"the {name} adapter needs the {module} package ({exc}): pip install 'stockbot[{extra}]'"
        ) from None


@cache
def adapter_class(name: str) -> type[Any]:
    """The class registered as ``name``; KeyError names the known adapters, MissingExtra a missing SDK."""
    try:
        module_name, class_name = ADAPTERS[name].split(":")
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise KeyError(f"unknown adapter {name!r}; known adapters: {known}") from None
    require_extra(name)
    return getattr(importlib.import_module(module_name), class_name)


def adapter_settings(name: str, raw: dict[str, Any]) -> AdapterSettings:
    """Validate an ``[adapters.NAME]`` section (pydantic ValidationError names the bad key)."""
    return adapter_class(name).Settings.model_validate(raw)


def build_adapter(
    name: str, settings: AdapterSettings, http: aiohttp.ClientSession, **services: Any
) -> Adapter:
    """Construct the adapter. ``services`` offers process-wide helpers (e.g. ``conversations``, the stored
    Teams conversation lookup); a class receives those it names in its ``services`` ClassVar."""
    cls = adapter_class(name)
    wanted = {key: services[key] for key in getattr(cls, "services", ()) if key in services}
    return cls(settings, http, **wanted)
