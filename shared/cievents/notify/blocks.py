"""Block Kit for Slack: the build message and the failed-job thread reply.

Slack's limits are enforced here, not hoped for: at most 50 blocks per
message, 3,000 characters per section text (longer text is cut and ends
with a link to the build), 2,000 per context element, 150 per button text.
"""

from __future__ import annotations

from typing import Any

from cievents.events import JobEvent
from cievents.notify.render import BuildSummary, job_line

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000


def escape(text: str) -> str:
    """Slack mrkdwn escaping (only &, < and > are special)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, url: str = "") -> str:
    if len(text) <= limit:
        return text
    tail = f"… <{url}|more>" if url else "…"
    return text[: limit - len(tail)] + tail


def build_blocks(summary: BuildSummary, mention: str | None = None) -> list[dict[str, Any]]:
    link = f"<{summary.url}|{escape(summary.title)}>" if summary.url else escape(summary.title)
    headline = f"{summary.emoji} *{link}* {escape(summary.state)}"
    if mention:
        headline += f" — {mention}"
    commit = f"`{summary.commit}` {escape(summary.message)}".strip()
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(headline, MAX_SECTION, summary.url)},
        },
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": truncate(f"*Branch*\n{escape(summary.branch)}", MAX_FIELD),
                },
                {"type": "mrkdwn", "text": truncate(f"*Commit*\n{commit}", MAX_FIELD)},
                {
                    "type": "mrkdwn",
                    "text": truncate(f"*Author*\n{escape(summary.author)}", MAX_FIELD),
                },
                {"type": "mrkdwn", "text": f"*Duration*\n{summary.duration}"},
            ],
        },
    ]
    if summary.url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "view_build",
                        "url": summary.url,
                        "text": {"type": "plain_text", "text": "View build"},
                    }
                ],
            }
        )
    return blocks[:MAX_BLOCKS]


def fallback_text(summary: BuildSummary) -> str:
    """The notification text (shown where blocks are not: push alerts, screen readers)."""
    return f"{summary.title} {summary.state} on {summary.branch}"


def job_reply(job: JobEvent) -> tuple[str, list[dict[str, Any]]]:
    text = f":x: {job_line(job)}"
    name = escape(job.job_name or job.step_key or "job")
    linked = f"<{job.url}|{name}>" if job.url else name
    exit_text = (
        f"exit status {job.exit_status}" if job.exit_status is not None else escape(job.state)
    )
    body = f":x: *{linked}* failed with {exit_text}"
    if job.url:
        body += f"\n<{job.url}|Job log>"
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(body, MAX_SECTION, job.url or "")},
        }
    ]
    return text, blocks
