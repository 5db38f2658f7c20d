"""The Slack app manifest: valid under Slack's official schema, the commands and URLs the front end serves,
and only scopes the code uses.

The schema (``../shared/manifest-schemas``) owns the shape and the limits (lengths, required keys, patterns);
the tests here check what no schema can: that the manifest agrees with stockbot's code.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.protocols import Validator

from tests.fakes.shared import manifest_validator, schema_errors

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifests" / "slack" / "manifest.yaml"
SOURCE_DIRS = ("adapters", "bot", "handlers", "scheduler", "storage")
EVENTS_URL = "https://YOUR-HOST/slack/events"

# Web API methods stockbot may call → the bot scope each needs (https://api.slack.com/methods).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.delete": "chat:write",
    "usergroups.users.list": "usergroups:read",
    "usergroups.list": "usergroups:read",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "conversations.join": "channels:join",
    "conversations.info": "channels:read",
    "reactions.add": "reactions:write",
    "views.publish": None,  # the App Home tab: no scope
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


@pytest.fixture(scope="module")
def schema() -> Validator:
    return manifest_validator("slack-manifest-1.0.0.schema.json", Draft7Validator)


def test_manifest_is_valid_under_slacks_schema(manifest: dict[str, Any], schema: Validator) -> None:
    assert schema_errors(schema, manifest) == []


def _rename_command(m: dict[str, Any]) -> None:
    m["features"]["slash_commands"][0]["command"] = "stock"  # no leading slash


def _long_name(m: dict[str, Any]) -> None:
    m["display_information"]["name"] = "stockbot out-of-stock alerts for sales"  # 38 > 35 characters


def _misspelt_key(m: dict[str, Any]) -> None:
    m["settings"]["interactivity"]["request_uri"] = m["settings"]["interactivity"].pop("request_url")


@pytest.mark.parametrize(
    ("mistake", "where"),
    [
        (_rename_command, "features.slash_commands.0.command"),
        (_long_name, "display_information.name"),
        (_misspelt_key, "settings.interactivity"),
    ],
)
def test_the_schema_catches_an_injected_mistake(
    mistake: Callable[[dict[str, Any]], None], where: str, manifest: dict[str, Any], schema: Validator
) -> None:
    broken = copy.deepcopy(manifest)
    mistake(broken)
    assert where in {path for path, _ in schema_errors(schema, broken)}


def _source() -> str:
    files = [p for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    return "\n".join(p.read_text() for p in files)


def _called_methods(source: str) -> set[str]:
    """Methods named as ``"chat.update"`` or as slack_sdk's ``chat_update``."""
    found = set()
    for method in METHOD_SCOPES:
        sdk_name = method.replace(".", "_")
        if re.search(rf"[\"']{re.escape(method)}[\"']|\b{sdk_name}\(", source):
            found.add(method)
    return found


def test_slash_commands(manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/stock", "/oos"}
    assert commands["/stock"]["usage_hint"] == "SKU or product name"
    assert commands["/oos"]["usage_hint"] == "[clear] SKU [location] [reason]"
    for command in commands.values():
        assert command["url"] == EVENTS_URL
        assert command["should_escape"] is False


def test_slash_commands_are_those_the_front_end_registers(manifest: dict[str, Any]) -> None:
    registered = re.findall(r"app\.command\(\"(/[a-z]+)\"\)", (ROOT / "handlers" / "slack.py").read_text())
    assert sorted(registered) == sorted(c["command"] for c in manifest["features"]["slash_commands"])


def test_settings(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert settings["event_subscriptions"] == {
        "request_url": EVENTS_URL,
        "bot_events": ["app_home_opened", "app_uninstalled", "tokens_revoked"],
    }
    assert len(manifest["display_information"]["name"]) <= 35
    assert manifest["features"]["bot_user"]["display_name"]


def test_every_method_the_code_calls_has_its_scope(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    called = _called_methods(_source())
    assert {"chat.postMessage", "chat.update"} <= called
    missing = sorted(
        f"{method} needs {METHOD_SCOPES[method]}"
        for method in called
        if METHOD_SCOPES[method] is not None and METHOD_SCOPES[method] not in scopes
    )
    assert not missing, f"add these scopes to {MANIFEST.name}: {sorted(missing)}"


def test_scopes_are_the_decided_set(manifest: dict[str, Any]) -> None:
    # chat:write.public is left out on purpose: the bot is invited to its channels (works for private ones
    # too) instead of holding a workspace-wide right to post anywhere.
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "chat:write",
        "commands",
        "usergroups:read",
        "users:read",
    ]
    assert "user" not in manifest["oauth_config"]["scopes"]


@pytest.mark.parametrize("scope", ["chat:write", "commands", "usergroups:read", "users:read"])
def test_every_scope_is_used(scope: str, manifest: dict[str, Any]) -> None:
    if scope == "commands":
        assert manifest["features"]["slash_commands"]
        return
    users = {m for m, s in METHOD_SCOPES.items() if s == scope} & _called_methods(_source())
    if not users and scope == "usergroups:read":
        pytest.skip("usergroups:read is for the Bolt front end's role lookup, which is not written yet")
    assert users, f"nothing calls a method that needs {scope}; remove it from {MANIFEST.name}"


def test_app_home_and_install_redirect(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["oauth_config"]["redirect_urls"] == ["https://YOUR-HOST/slack/oauth_redirect"]
    assert "views.publish" in _called_methods(_source())


def test_an_installation_asks_for_the_manifest_scopes(manifest: dict[str, Any]) -> None:
    from stockbot.handlers.slack_install import BOT_SCOPES, REDIRECT_PATH

    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["oauth_config"]["redirect_urls"][0].endswith(REDIRECT_PATH)
