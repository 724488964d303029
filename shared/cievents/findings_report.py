"""Publishing new findings: once per scope and fingerprint, then one security alert.

``FindingsReporter.report(store, scope, messages)`` claims
``secret_scan:<scope>:<fingerprint>`` in the idempotency store for each message,
publishes the unclaimed ones to the findings topic (releasing the claim if the
publish fails, so a retry publishes it), logs each new one (preview and
fingerprint only) and, when any was new, posts one alert to the security
channel. Returns how many were new: a redelivery publishes and alerts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cievents import log
from cievents.config import CommonSettings, env_opt, env_str
from cievents.errors import TransientError
from cievents.findings import FindingMessage
from cievents.idempotency import Store
from cievents.outbox import Outbox

__all__ = ["ALERT_LINES", "FindingsReporter", "alert"]

ALERT_LINES = 20


def alert(scope: str, new: int, messages: Sequence[FindingMessage]) -> tuple[str, list[Any]]:
    """The security alert's text and Block Kit blocks (redacted previews and places only)."""
    lines = [
        f"• *{m.rule_id}* `{m.preview}` at {m.location.get('path')}:{m.location.get('line')}"
        for m in messages[:ALERT_LINES]
    ]
    if len(messages) > ALERT_LINES:
        lines.append(f"… and {len(messages) - ALERT_LINES} more")
    text = f":rotating_light: {new} leaked credential(s) found in {scope}"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([text, *lines])}}]
    return text, blocks


@dataclass(frozen=True)
class FindingsReporter:
    """Where findings go: ``target`` (topic or URL), the alert channel and Slack's token."""

    target: str
    channel: str | None
    slack_token: str | None
    slack_api: str | None
    dry_run: bool
    outbox_dir: str

    @classmethod
    def from_env(cls, common: CommonSettings) -> FindingsReporter:
        """``CIEVENTS_FINDINGS_PUBLISH_TO`` or ``CIEVENTS_FINDINGS_TOPIC`` (default
        ``security-findings``), ``SECURITY_SLACK_CHANNEL``, ``SLACK_BOT_TOKEN``,
        ``SLACK_API_URL``."""
        return cls(
            target=env_opt("CIEVENTS_FINDINGS_PUBLISH_TO")
            or env_str("CIEVENTS_FINDINGS_TOPIC", "security-findings"),
            channel=env_opt("SECURITY_SLACK_CHANNEL"),
            slack_token=env_opt("SLACK_BOT_TOKEN"),
            slack_api=env_opt("SLACK_API_URL"),
            dry_run=common.dry_run,
            outbox_dir=common.outbox_dir,
        )

    def report(self, store: Store, scope: str, messages: Sequence[FindingMessage]) -> int:
        """Publish each new finding once (per scope and fingerprint) and alert; how many new."""
        from cievents.publish import publisher_for

        new = 0
        for message in messages:
            key = f"secret_scan:{scope}:{message.fingerprint}"
            claim = store.claim(key)
            if claim.status == "duplicate":
                continue
            if claim.status == "busy":
                raise TransientError(f"another execution is reporting {message.fingerprint[:12]}")
            try:
                publisher_for(self.target).publish(message.to_bytes(), message.attributes())
            except BaseException:
                store.release(key, claim.token)
                raise
            store.complete(key, claim.token, "published")
            new += 1
            log.logger.warning(
                "secret found",
                rule_id=message.rule_id,
                preview=message.preview,
                fingerprint=message.fingerprint,
                location=message.location,
            )
        if new and self.channel:
            self._alert(scope, new, messages)
        return new

    def _alert(self, scope: str, new: int, messages: Sequence[FindingMessage]) -> None:
        from cievents.notify.slack import SlackClient

        dry = self.dry_run or not self.slack_token
        slack = SlackClient(
            None if dry else self.slack_token,
            base_url=self.slack_api,
            outbox=Outbox(self.outbox_dir) if dry else None,
        )
        text, blocks = alert(scope, new, messages)
        assert self.channel is not None
        slack.post(self.channel, text, blocks)
