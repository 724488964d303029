"""secret_scan: leaked credentials in CI job logs and GitHub pull-request diffs.

* Finished jobs or runs of Buildkite, GitHub Actions, GitLab CI, Azure Pipelines and
  Bitbucket Pipelines (``SCAN_ON`` picks job or run per system): the logs are
  downloaded through each CI's API (streamed, capped), cleaned the way each CI's
  format needs, scanned, and the findings are written back to the build
  (``cievents.cilogs.service``).
* GitHub ``pull_request`` opened / synchronize / reopened: the PR's diff is
  fetched and only added lines are scanned; one PR comment is created or
  updated with the findings, and a check run carries file/line annotations.

Each new finding (per job or PR, per fingerprint, once under redelivery) is
published to the ``security-findings`` topic for workitem_sync and announced
in ``SECURITY_SLACK_CHANNEL``. Fingerprints that work-item sync marked
suppressed are skipped. No raw secret ever leaves this function: messages,
comments, alerts and logs carry the redacted preview and the keyed
fingerprint only.

Settings: those of ``cievents.cilogs.service`` (``SCAN_ON``, ``SCAN_MAX_*``, each CI's
token and API URL) and of ``cievents.scm``; ``CIEVENTS_FINDINGS_TOPIC`` (default
``security-findings``) or ``CIEVENTS_FINDINGS_PUBLISH_TO``; ``SECURITY_SLACK_CHANNEL``;
``CIEVENTS_FINGERPRINT_KEY``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cievents import findings as finding_state
from cievents import log
from cievents.cilogs.service import CiScan
from cievents.cilogs.targets import is_ci_event, message_key
from cievents.config import env_opt, env_str
from cievents.errors import TransientError
from cievents.events import PullRequestEvent
from cievents.findings import FindingMessage
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.outbox import Outbox
from cievents.publish import publisher_for
from cievents.scanning import Finding, Scanner, warm

FINDINGS_TARGET = env_opt("CIEVENTS_FINDINGS_PUBLISH_TO") or env_str(
    "CIEVENTS_FINDINGS_TOPIC", "security-findings"
)
SECURITY_CHANNEL = env_opt("SECURITY_SLACK_CHANNEL")
MARKER = "<!-- cievents:secret-scan -->"
_scanner: Scanner | None = None
CI = CiScan.from_env()
# The rule database (serialized at package time) is loaded with the instance, so the first
# message pays nothing for it and the cold-start benchmark includes it.
ENGINE = warm()


def scanner(ctx: Context) -> Scanner:
    global _scanner  # noqa: PLW0603 - the compiled database is loaded once per instance
    if _scanner is None:
        _scanner = Scanner(suppressed=lambda fp: finding_state.is_suppressed(ctx.store, fp))
    return _scanner


def _message(f: Finding, event: PullRequestEvent, location: dict[str, Any]) -> FindingMessage:
    return FindingMessage.from_finding(
        f,
        location,
        source=event.source,
        repository=event.repository,
        commit=event.commit,
        branch=event.branch,
        detected_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        pull_request=event.number,
        build_url=event.url,
    )


def report(ctx: Context, scope: str, messages: list[FindingMessage]) -> int:
    """Publish each new finding once (per scope and fingerprint) and alert; returns how many."""
    new = 0
    for message in messages:
        key = f"secret_scan:{scope}:{message.fingerprint}"
        claim = ctx.store.claim(key)
        if claim.status == "duplicate":
            continue
        if claim.status == "busy":
            raise TransientError(f"another execution is reporting {message.fingerprint[:12]}")
        try:
            publisher_for(FINDINGS_TARGET).publish(message.to_bytes(), message.attributes())
        except BaseException:
            ctx.store.release(key, claim.token)
            raise
        ctx.store.complete(key, claim.token, "published")
        new += 1
        log.logger.warning(
            "secret found",
            rule_id=message.rule_id,
            preview=message.preview,
            fingerprint=message.fingerprint,
            location=message.location,
        )
    if new and SECURITY_CHANNEL:
        from cievents.notify.slack import SlackClient

        token = env_opt("SLACK_BOT_TOKEN")
        dry = ctx.settings.dry_run or not token
        slack = SlackClient(
            None if dry else token,
            base_url=env_opt("SLACK_API_URL"),
            outbox=Outbox(ctx.settings.outbox_dir) if dry else None,
        )
        lines = [
            f"• *{m.rule_id}* `{m.preview}` at {m.location.get('path')}:{m.location.get('line')}"
            for m in messages[:20]
        ]
        text = f":rotating_light: {new} leaked credential(s) found in {scope}"
        slack.post(
            SECURITY_CHANNEL,
            text,
            [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": text + "\n" + "\n".join(lines)},
                }
            ],
        )
    return new


def _on_pull_request(event: PullRequestEvent, ctx: Context) -> Result:
    if event.action not in ("opened", "updated", "reopened"):
        return skipped(f"pull request {event.action}: nothing new to scan")
    from cievents.scm import Annotation, CheckReport, ScmSettings, pull_request_of

    settings = ScmSettings.from_env()
    pr = pull_request_of(event, settings)
    if pr is None or pr.repository.provider != "github":
        return skipped(f"pull request of {event.source}: not scanned yet")
    dry = ctx.settings.dry_run or not settings.has_credentials("github")
    github = settings.client("github", Outbox(ctx.settings.outbox_dir) if dry else None)
    if not github.can_read:
        return skipped("not scanned: no credentials")
    head = github.pull_request(pr)
    diff = github.added_lines(pr, head, 5 * 1024 * 1024)
    found: list[tuple[str, int, int, Finding]] = []
    for path, lines in diff.files.items():
        text = "\n".join(t for _, t in lines)
        for f in scanner(ctx).scan_text(text, path=path):
            found.append((path, lines[f.line - 1][0], lines[f.end_line - 1][0], f))
    messages = [
        _message(
            f,
            event,
            {
                "kind": "pr_diff",
                "path": path,
                "line": line,
                "end_line": end,
                "start_column": f.start_column,
                "end_column": f.end_column,
            },
        )
        for path, line, end, f in found
    ]
    new = report(ctx, f"{pr.repository.path}#{event.number}", messages)
    body = (
        "No leaked credentials in the added lines."
        if not found
        else "**Leaked credentials in this pull request** (rotate them, then remove them):\n\n"
        + "\n".join(f"- `{f.rule_id}` `{f.secret}` in `{p}` line {n}" for p, n, _, f in found)
    )
    github.upsert_comment(pr, "secret-scan", body)
    github.publish_check(
        pr,
        CheckReport(
            "cievents/secret-scan",
            "failure" if found else "success",
            f"{len(found)} leaked credential(s)",
            summary=body,
            details_url=event.url,
            annotations=tuple(
                Annotation(p, n, f"{f.description}: {f.secret}", title=f.rule_id, end_line=e)
                for p, n, e, f in found
            ),
        ),
        head,
    )
    return Result(
        "acted", f"{len(found)} finding(s), {new} new", provider="github", operation="scan"
    )


@pubsub_function(
    "secret_scan",
    accepts=lambda e: isinstance(e, PullRequestEvent) or is_ci_event(e),
    key=lambda m, e: message_key(e)
    if is_ci_event(e)
    else f"{e.source}:{e.repository}:{e.number}:{e.commit}:{e.event}",
)
def handle(event: Any, ctx: Context) -> Result:
    """Scan what the event points at; report what is new."""
    if isinstance(event, PullRequestEvent):
        return _on_pull_request(event, ctx)
    return CI.handle(event, ctx, scanner(ctx), report)
