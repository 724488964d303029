"""secret_scan: leaked credentials in CI job logs and in pull requests on four SCMs.

* Finished jobs or runs of Buildkite, GitHub Actions, GitLab CI, Azure Pipelines and
  Bitbucket Pipelines (``SCAN_ON`` picks job or run per system): the logs are
  downloaded through each CI's API (streamed, capped), cleaned the way each CI's
  format needs, scanned, and the findings are written back to the build
  (``cievents.cilogs.service``).
* Pull / merge requests opened, updated or reopened on GitHub, GitLab, Bitbucket
  Cloud and Azure Repos: the PR's current added lines are read through the SCM's
  API (at most ``SCAN_MAX_DIFF_BYTES``) and scanned; the check
  ``cievents/secret-scan`` fails while a finding stands (or the diff could not be
  read in full) and passes when the head is clean; one PR comment is kept up to
  date (``cievents.scm.secret_gate``).

Each new finding (per job or PR, per fingerprint, once under redelivery) is
published to the ``security-findings`` topic for workitem_sync and announced
in ``SECURITY_SLACK_CHANNEL`` (``cievents.findings_report``). Fingerprints that
work-item sync marked suppressed are skipped. No raw secret ever leaves this
function: messages, comments, alerts and logs carry the redacted preview and the
keyed fingerprint only.

Settings, read once at cold start: those of ``cievents.cilogs.service`` (``SCAN_ON``,
``SCAN_MAX_*``, each CI's token and API URL) and of ``cievents.scm`` (each SCM's
credentials and API URL); ``SCAN_MAX_DIFF_BYTES`` (default 5 MB);
``CIEVENTS_FINDINGS_TOPIC`` (default ``security-findings``) or
``CIEVENTS_FINDINGS_PUBLISH_TO``; ``SECURITY_SLACK_CHANNEL``, ``SLACK_BOT_TOKEN``;
``CIEVENTS_FINGERPRINT_KEY``.
"""

from __future__ import annotations

from typing import Any

from cievents import findings as finding_state
from cievents.cilogs.service import CiScan
from cievents.cilogs.targets import is_ci_event, message_key
from cievents.config import CommonSettings, env_int
from cievents.events import PullRequestEvent
from cievents.findings import FindingMessage
from cievents.findings_report import FindingsReporter
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.outbox import Outbox
from cievents.scanning import Scanner, warm
from cievents.scm import ScmSettings, pull_request_of
from cievents.scm import secret_gate as gate

COMMON = CommonSettings.from_env()
MAX_DIFF_BYTES = env_int("SCAN_MAX_DIFF_BYTES", 5 * 1024 * 1024, minimum=1024)
SCM = ScmSettings.from_env()
REPORTER = FindingsReporter.from_env(COMMON)
CI = CiScan.from_env()
_scm_clients: dict[str, Any] = {}
_scanner: Scanner | None = None
# The rule database (serialized at package time) is loaded with the instance, so the first
# message pays nothing for it and the cold-start benchmark includes it.
ENGINE = warm()


def scanner(ctx: Context) -> Scanner:
    global _scanner  # noqa: PLW0603 - the compiled database is loaded once per instance
    if _scanner is None:
        _scanner = Scanner(suppressed=lambda fp: finding_state.is_suppressed(ctx.store, fp))
    return _scanner


def report(ctx: Context, scope: str, messages: list[FindingMessage]) -> int:
    """Publish each new finding once (per scope and fingerprint) and alert; how many new."""
    return REPORTER.report(ctx.store, scope, messages)


def scm_client(provider: str) -> Any:
    """One client per SCM and instance; its writes go to the outbox in a dry run."""
    if provider not in _scm_clients:
        outbox = Outbox(COMMON.outbox_dir) if COMMON.dry_run else None
        _scm_clients[provider] = SCM.client(provider, outbox)
    return _scm_clients[provider]


def _on_pull_request(event: PullRequestEvent, ctx: Context) -> Result:
    if event.action not in gate.SCANNED_ACTIONS:
        return skipped(f"pull request {event.action}: nothing new to scan")
    pr = pull_request_of(event, SCM)
    if pr is None:
        return skipped(f"not scanned: no SCM API for {event.source} {event.repository!r}")
    provider = pr.repository.provider
    client = scm_client(provider)
    if not client.can_read:
        return skipped(f"not scanned: no credentials for {provider}")
    with gate.pr_lock(ctx.store, pr):
        scan = gate.scan_pull_request(client, pr, scanner(ctx), MAX_DIFF_BYTES)
        if not gate.is_open(scan.head):
            return skipped(f"pull request {scan.head.state} since the event: not scanned")
        published = gate.publish(client, scan, event.url)
    new = report(
        ctx, f"{pr.repository.path}#{pr.number}", gate.messages_of(scan, event.source, event.branch)
    )
    ctx.fields.update(
        findings=len(scan.findings), truncated=scan.added.truncated, check=published.kinds
    )
    return Result(
        "acted",
        f"{gate.CHECK_NAME} {scan.state} on {scan.head.head_sha[:7]}: {scan.summary}, {new} new",
        provider=provider,
        operation="scan",
    )


@pubsub_function(
    "secret_scan",
    settings=COMMON,
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
