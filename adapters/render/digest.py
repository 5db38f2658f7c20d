"""Digests: one message standing for several alerts (a route's low-stock digest, what quiet hours held, or a
burst grouped to stay within a platform's rate limit). Pure functions, one per destination format.

A digest message has ``event == "digest"`` and its alerts in ``message.digest``, most severe first; the
renderers in text.py, slack.py and teams.py hand digests to the functions here.
"""

from __future__ import annotations

import html
from typing import Any

from stockbot.adapters.base import AlertMessage

ACK_ALL_ACTION = "stockbot_ack_all"  # Slack: value is the comma-separated alert ids
ACK_ALL_VERB = "stockbot.ack_all"  # Teams: data {"alert_ids": [...]}
MARKS = {"critical": "CRITICAL", "out": "OUT", "low": "LOW"}
SLACK_EMOJI = {"critical": ":rotating_light:", "out": ":red_circle:", "low": ":large_yellow_circle:"}


def title(message: AlertMessage) -> str:
    return f"Stock digest: {message.product_name}"


def item_line(item: AlertMessage) -> str:
    from stockbot.adapters.render.text import level_text, status_line

    mark = "BACK IN STOCK" if item.is_resolved else MARKS.get(item.severity, item.severity.upper())
    return (
        f"{mark} {item.product_name} ({item.sku}) at {item.location}: {level_text(item)}; {status_line(item)}"
    )


def open_ids(message: AlertMessage) -> list[int]:
    """Alerts a bulk Acknowledge applies to: unresolved and not yet acknowledged."""
    return [i.alert_id for i in message.digest if not i.is_resolved and not i.acknowledged_by]


def plain_text(message: AlertMessage) -> str:
    return "\n".join([title(message), "", *(f"- {item_line(i)}" for i in message.digest)])


def sms(message: AlertMessage) -> str:
    """One segment: the counts, then as many SKUs as fit."""
    head = f"{len(message.digest)} stock alerts:"
    skus = [i.sku + ("(ok)" if i.is_resolved else "") for i in message.digest]
    text = head
    for index, sku in enumerate(skus):
        rest = len(skus) - index - 1
        candidate = f"{text} {sku}" + ("," if rest else "")
        if len(candidate) + (len(f" +{rest} more") if rest else 0) > 159:
            return f"{text.rstrip(',')} +{len(skus) - index} more"
        text = candidate
    return text


def email_html(message: AlertMessage) -> str:
    rows = "".join(f"<li>{html.escape(item_line(i))}</li>" for i in message.digest)
    return (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<h2 style='margin:0 0 8px'>{html.escape(title(message))}</h2><ul>{rows}</ul></body></html>"
    )


def slack_blocks(message: AlertMessage) -> list[dict[str, Any]]:
    from stockbot.adapters.render.slack import escape

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title(message)[:150]}},
    ]
    lines = [f"{SLACK_EMOJI.get(i.severity, '')} {escape(item_line(i))}" for i in message.digest[:45]]
    if len(message.digest) > 45:
        lines.append(f"…and {len(message.digest) - 45} more")
    chunk: list[str] = []
    for line in lines:  # a section holds at most 3000 characters
        if sum(len(c) + 1 for c in chunk) + len(line) > 2900:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    ids = open_ids(message)
    value = ",".join(map(str, ids))
    if ids and len(value) <= 2000:
        blocks.append(
            {
                "type": "actions",
                "block_id": "stockbot_digest_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACK_ALL_ACTION,
                        "style": "primary",
                        "value": value,
                        "text": {"type": "plain_text", "text": f"Acknowledge all {len(ids)}"},
                    }
                ],
            }
        )
    return blocks


def teams_card(message: AlertMessage) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title(message), "weight": "Bolder", "size": "Medium", "wrap": True},
        *(
            {
                "type": "TextBlock",
                "text": item_line(i),
                "wrap": True,
                "spacing": "Small",
                "color": "Good" if i.is_resolved else ("Attention" if i.severity != "low" else "Warning"),
            }
            for i in message.digest[:60]
        ),
    ]
    ids = open_ids(message)
    actions = (
        [
            {
                "type": "Action.Execute",
                "title": f"Acknowledge all {len(ids)}",
                "verb": ACK_ALL_VERB,
                "data": {"alert_ids": ids},
            }
        ]
        if ids
        else []
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "fallbackText": title(message),
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card
