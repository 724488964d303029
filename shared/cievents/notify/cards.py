"""Teams cards: an Adaptive Card for Workflows webhooks, or the legacy MessageCard.

Workflows (Power Automate) answers 202 as soon as it accepts a request; a
card it cannot render fails silently later, inside the flow. So cards are
checked here before sending: the envelope Workflows expects, the element
types and required properties of the Adaptive Card subset we use, and the
size limit (about 28 KB).
"""

from __future__ import annotations

import json
from typing import Any

from cievents.errors import ValidationError
from cievents.notify.render import HEX, BuildSummary

MAX_CARD_BYTES = 28 * 1024
# Each text is clipped well below the card limit, so a build with a huge branch or
# pipeline name still renders; ``validate`` remains the net for anything else.
MAX_TEXT = 1000
ADAPTIVE_VERSION = "1.4"
_ELEMENTS = {
    "TextBlock": ("text",),
    "FactSet": ("facts",),
    "ColumnSet": ("columns",),
    "Container": ("items",),
}
_ACTIONS = {"Action.OpenUrl": ("title", "url")}


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _facts(summary: BuildSummary) -> list[tuple[str, str]]:
    return [
        ("Pipeline", summary.pipeline),
        ("Branch", summary.branch),
        ("Commit", f"{summary.commit} {summary.message}".strip()),
        ("Author", summary.author),
        ("Duration", summary.duration),
    ]


def adaptive_card(summary: BuildSummary) -> dict[str, Any]:
    """The Workflows message: one Adaptive Card attachment."""
    state_color = {
        "good": "Good",
        "attention": "Attention",
        "warning": "Warning",
        "accent": "Accent",
    }.get(summary.color, "Default")
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_VERSION,
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "size": "Medium",
                "weight": "Bolder",
                "wrap": True,
                "text": clip(f"{summary.title} {summary.state}"),
                "color": state_color,
            },
            {
                "type": "FactSet",
                "facts": [{"title": k, "value": clip(v)} for k, v in _facts(summary)],
            },
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "View build", "url": summary.url}]
        if summary.url
        else [],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def message_card(summary: BuildSummary) -> dict[str, Any]:
    """The legacy Office 365 connector format, for webhooks that still take it."""
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": clip(f"{summary.title} {summary.state}"),
        "themeColor": HEX.get(summary.color, HEX["default"]),
        "title": clip(f"{summary.title} {summary.state}"),
        "sections": [{"facts": [{"name": k, "value": clip(v)} for k, v in _facts(summary)]}],
    }
    if summary.url:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "View build",
                "targets": [{"os": "default", "uri": summary.url}],
            }
        ]
    return card


def _check_elements(items: list[Any], where: str) -> None:
    for index, item in enumerate(items):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in _ELEMENTS:
            raise ValidationError(
                f"{where}[{index}]: unsupported element {kind!r}", reason="bad_card"
            )
        for prop in _ELEMENTS[kind]:
            if not item.get(prop):
                raise ValidationError(
                    f"{where}[{index}] ({kind}): '{prop}' is required", reason="bad_card"
                )
        if kind == "FactSet":
            for fact in item["facts"]:
                if not isinstance(fact.get("title"), str) or not isinstance(fact.get("value"), str):
                    raise ValidationError(
                        f"{where}[{index}]: facts need string title and value", reason="bad_card"
                    )


def validate(message: dict[str, Any]) -> int:
    """Raise ValidationError unless Teams will render ``message``; returns its size in bytes."""
    size = len(json.dumps(message).encode("utf-8"))
    if size > MAX_CARD_BYTES:
        raise ValidationError(
            f"card is {size} bytes, over Teams' {MAX_CARD_BYTES}", reason="bad_card"
        )
    if message.get("@type") == "MessageCard":
        if not message.get("summary") and not message.get("text"):
            raise ValidationError("MessageCard needs a summary or text", reason="bad_card")
        return size
    if message.get("type") != "message" or not isinstance(message.get("attachments"), list):
        raise ValidationError(
            "Workflows messages need type 'message' and attachments", reason="bad_card"
        )
    for attachment in message["attachments"]:
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            raise ValidationError("attachment is not an Adaptive Card", reason="bad_card")
        card = attachment.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not card.get("version"):
            raise ValidationError(
                "content must be an AdaptiveCard with a version", reason="bad_card"
            )
        _check_elements(list(card.get("body") or []), "body")
        for index, action in enumerate(card.get("actions") or []):
            kind = action.get("type")
            if kind not in _ACTIONS or not all(action.get(p) for p in _ACTIONS[kind]):
                raise ValidationError(f"actions[{index}]: bad {kind!r}", reason="bad_card")
    return size
