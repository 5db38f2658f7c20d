"""What a verified Slack request body holds, read before Bolt sees it.

Slack sends a form (slash commands), a form whose ``payload`` field is a JSON object (buttons), or a JSON
object (Events API). Bolt reads each by assumption: ``body["actions"][0]["action_id"]``, ``"id" in user``,
``payload["authorizations"][0].get(...)``, so a signed body of another shape made it answer 500.
:func:`slack_body` reads the body the way Bolt would and checks the fields Bolt's context extraction and
stockbot's listeners read, with the types Slack sends them in; anything else is a 400 that names the field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from stockbot.handlers.bodies import BodyError, json_body

# Fields Bolt's context extraction and the listeners read, and the shapes Slack sends them in.
_IDS = ("enterprise", "team", "user", "channel")  # an id, or an object with an id
_OBJECTS = ("view", "container", "state", "function_data", "bot_profile")
_NESTED = ("event", "message", "previous_message", "item", "assistant_thread")  # read like the top level
_STRINGS = (
    "type", "command", "text", "response_url", "trigger_id", "user_id", "user_name", "channel_id",
    "team_id", "enterprise_id", "api_app_id", "challenge",
)  # fmt: skip
_OBJECT_LISTS = ("authorizations", "response_urls")
_ACTION_STRINGS = ("action_id", "block_id", "value", "type")


def _shape_problems(body: dict[str, Any], where: str = "", depth: int = 0) -> list[str]:
    problems = []
    for key in _IDS:
        value = body.get(key)
        if isinstance(value, dict):
            problems += [
                f"{where}{key}.{k} must be a string"
                for k in ("id", "team_id", "enterprise_id", "name", "username")
                if value.get(k) is not None and not isinstance(value[k], str)
            ]
        elif value is not None and not isinstance(value, str):
            problems.append(f"{where}{key} must be a string or an object")
    for key in _STRINGS:
        if body.get(key) is not None and not isinstance(body[key], str):
            problems.append(f"{where}{key} must be a string")
    for key in (*_OBJECTS, *_NESTED):
        if body.get(key) is not None and not isinstance(body[key], dict):
            problems.append(f"{where}{key} must be an object")
        elif key in _NESTED and body.get(key) is not None and depth < 3:
            problems += _shape_problems(body[key], f"{where}{key}.", depth + 1)
    for key in _OBJECT_LISTS:
        value = body.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            problems.append(f"{where}{key} must be an array of objects")
        elif key == "authorizations" and value and depth < 3:
            problems += _shape_problems(value[0], f"{where}{key}[0].", depth + 1)
    return problems + _action_problems(body, where)


def _action_problems(body: dict[str, Any], where: str) -> list[str]:
    actions = body.get("actions")
    if actions is None and body.get("type") != "block_actions":
        return []
    if not isinstance(actions, list) or not actions:
        return [f"{where}actions must be a non-empty array of objects"]
    problems = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            problems.append(f"{where}actions[{index}] must be an object with a string action_id")
            continue
        problems += [
            f"{where}actions[{index}].{k} must be a string"
            for k in _ACTION_STRINGS
            if action.get(k) is not None and not isinstance(action[k], str)
        ]
        if action.get("selected_option") is not None and not isinstance(action["selected_option"], dict):
            problems.append(f"{where}actions[{index}].selected_option must be an object")
    return problems


def slack_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """What Slack sent, as Bolt would read it (a form; a form's ``payload``; a JSON body), checked for the
    shapes Slack sends; :class:`BodyError` (400) otherwise. ``raw`` has been verified, so it is UTF-8."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        body = json_body(raw)
    else:
        fields = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        body = json_body(fields["payload"]) if "payload" in fields else fields
    if not isinstance(body, dict):
        raise BodyError(400, "a Slack request is a form, or a JSON object (also as a form's payload)")
    problems = _shape_problems(body)
    if problems:
        raise BodyError(400, "not a request Slack sends: " + "; ".join(problems[:5]))
    return body
