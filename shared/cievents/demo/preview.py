"""``<out>/outbox/index.html``: every recorded request, readable by a person.

Slack messages are rendered from their Block Kit (mrkdwn links, bold and
code turned into HTML), Teams cards as their title and facts, commit
statuses and Jira requests as tables. Everything is escaped: the preview
shows what was recorded, it never executes it.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

_LINK = re.compile(r"&lt;(https?://[^|&]+)\|([^&]+)&gt;")
_BOLD = re.compile(r"\*([^*\n]+)\*")
_CODE = re.compile(r"`([^`\n]+)`")


def mrkdwn(text: str) -> str:
    escaped = html.escape(text, quote=False)
    escaped = _LINK.sub(r'<a href="\1">\2</a>', escaped)
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return escaped.replace("\n", "<br>")


def _slack(entry: dict[str, Any]) -> str:
    body = entry.get("body") or {}
    method = str(entry.get("url", "")).rsplit("/", 1)[-1]
    parts = []
    for block in body.get("blocks") or []:
        if block.get("text"):
            parts.append(f"<div>{mrkdwn(str(block['text'].get('text', '')))}</div>")
        for field in block.get("fields") or []:
            parts.append(f"<div class=field>{mrkdwn(str(field.get('text', '')))}</div>")
        for element in block.get("elements") or []:
            if element.get("type") == "button":
                parts.append(
                    f'<a class=button href="{html.escape(str(element.get("url", "")))}">'
                    f"{html.escape(str(element['text']['text']))}</a>"
                )
    thread = " (thread reply)" if body.get("thread_ts") else ""
    return (
        f"<div class=card><div class=meta>{html.escape(method)} → "
        f"{html.escape(str(body.get('channel', '')))}{thread}</div>{''.join(parts)}</div>"
    )


def _teams(entry: dict[str, Any]) -> str:
    body = entry.get("body") or {}
    if body.get("@type") == "MessageCard":
        title, facts = (
            body.get("title", ""),
            [(f["name"], f["value"]) for s in body.get("sections", []) for f in s.get("facts", [])],
        )
    else:
        card = (body.get("attachments") or [{}])[0].get("content", {})
        items = card.get("body") or []
        title = next((i.get("text", "") for i in items if i.get("type") == "TextBlock"), "")
        facts = [
            (f["title"], f["value"])
            for i in items
            if i.get("type") == "FactSet"
            for f in i["facts"]
        ]
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts
    )
    return f"<div class=card><b>{html.escape(str(title))}</b><table>{rows}</table></div>"


def _generic(entry: dict[str, Any]) -> str:
    body = json.dumps(entry.get("body"), indent=2, ensure_ascii=False)
    return (
        f"<div class=card><div class=meta>{html.escape(str(entry.get('method')))} "
        f"{html.escape(str(entry.get('url')))}</div><pre>{html.escape(body)}</pre></div>"
    )


STYLE = """body{font:14px system-ui,sans-serif;margin:2em;max-width:60em;color:#1d1c1d}
h2{margin-top:2em}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.6em 0}
.meta{color:#616061;font-size:12px}
.field{display:inline-block;width:45%;vertical-align:top;margin:.3em 0}
.button{display:inline-block;border:1px solid #aaa;border-radius:4px;padding:.1em .6em;
margin-top:.4em}
th{text-align:left;padding-right:1em}pre{white-space:pre-wrap;font-size:12px}"""


def write(out: Path) -> dict[str, int]:
    """Write index.html for the outbox under ``out``; returns the request count per sink."""
    outbox = out / "outbox"
    counts: dict[str, int] = {}
    sections = []
    for path in sorted(outbox.glob("*.jsonl")) if outbox.exists() else []:
        sink = path.stem
        entries = [
            json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()
        ]
        counts[sink] = len(entries)
        render = {"slack": _slack, "teams": _teams}.get(sink, _generic)
        sections.append(
            f"<h2>{html.escape(sink)} ({len(entries)})</h2>" + "".join(render(e) for e in entries)
        )
    outbox.mkdir(parents=True, exist_ok=True)
    page = (
        f"<!doctype html><meta charset=utf-8><title>ci-event-functions outbox</title>"
        f"<style>{STYLE}</style><h1>What the functions would have sent</h1>"
        + ("".join(sections) or "<p>Nothing was sent.</p>")
    )
    (outbox / "index.html").write_text(page, "utf-8")
    return counts
