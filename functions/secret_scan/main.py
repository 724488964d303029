"""secret_scan: leaked credentials in Buildkite job logs and GitHub pull-request diffs.

* Buildkite ``job.finished`` (``SCAN_ON=job.finished``, the default): the job's
  log is downloaded through the Buildkite REST API (streamed, capped at
  ``SCAN_MAX_LOG_BYTES``) and scanned. With ``SCAN_ON=build.finished`` the
  whole build is scanned once it finishes instead: its jobs are read from the
  builds API and the logs of at most ``SCAN_MAX_JOBS`` script jobs are scanned.
* GitHub ``pull_request`` opened / synchronize / reopened: the PR's diff is
  fetched and only added lines are scanned; one PR comment is created or
  updated with the findings, and a check run carries file/line annotations.

Each new finding (per job or PR, per fingerprint, once under redelivery) is
published to the ``security-findings`` topic for workitem_sync and announced
in ``SECURITY_SLACK_CHANNEL``. Fingerprints that work-item sync marked
suppressed are skipped. No raw secret ever leaves this function: messages,
comments, alerts and logs carry the redacted preview and the keyed
fingerprint only.

Settings: ``BUILDKITE_API_TOKEN``, ``BUILDKITE_API_URL``; ``GITHUB_TOKEN`` (or
the App settings of github_status), ``GITHUB_API_URL``;
``CIEVENTS_FINDINGS_TOPIC`` (default ``security-findings``) or
``CIEVENTS_FINDINGS_PUBLISH_TO``; ``SECURITY_SLACK_CHANNEL``;
``CIEVENTS_FINGERPRINT_KEY``; ``SCAN_MAX_LOG_BYTES`` (default 20 MB);
``SCAN_ON`` (``job.finished`` or ``build.finished``); ``SCAN_MAX_JOBS`` (default 100).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cievents import findings as finding_state
from cievents import log
from cievents.cilogs import BuildkiteLogs, JobRef, JobScan, scan_job
from cievents.cilogs.buildkite import job_of, run_of
from cievents.cilogs.scan import messages_of
from cievents.config import env_int, env_opt, env_str
from cievents.errors import ConfigError, TransientError
from cievents.events import BuildEvent, JobEvent, PullRequestEvent
from cievents.findings import FindingMessage
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.outbox import Outbox
from cievents.publish import publisher_for
from cievents.scanning import Finding, Scanner, warm

BUILDKITE_API = env_str("BUILDKITE_API_URL", "https://api.buildkite.com/v2").rstrip("/")
BUILDKITE_TOKEN = env_opt("BUILDKITE_API_TOKEN")
MAX_LOG_BYTES = env_int("SCAN_MAX_LOG_BYTES", 20 * 1024 * 1024, minimum=1024)
MAX_JOBS = env_int("SCAN_MAX_JOBS", 100, minimum=1)
SCAN_MODES = ("job.finished", "build.finished")
FINDINGS_TARGET = env_opt("CIEVENTS_FINDINGS_PUBLISH_TO") or env_str(
    "CIEVENTS_FINDINGS_TOPIC", "security-findings"
)
SECURITY_CHANNEL = env_opt("SECURITY_SLACK_CHANNEL")
MARKER = "<!-- cievents:secret-scan -->"
_scanner: Scanner | None = None
_buildkite: BuildkiteLogs | None = None
# The rule database (serialized at package time) is loaded with the instance, so the first
# message pays nothing for it and the cold-start benchmark includes it.
ENGINE = warm()


def scanner(ctx: Context) -> Scanner:
    global _scanner  # noqa: PLW0603 - the compiled database is loaded once per instance
    if _scanner is None:
        _scanner = Scanner(suppressed=lambda fp: finding_state.is_suppressed(ctx.store, fp))
    return _scanner


def buildkite() -> BuildkiteLogs:
    global _buildkite  # noqa: PLW0603 - one session per instance
    if _buildkite is None:
        _buildkite = BuildkiteLogs(
            token=BUILDKITE_TOKEN,
            api_url=BUILDKITE_API,
            max_log_bytes=MAX_LOG_BYTES,
            max_jobs=MAX_JOBS,
        )
    return _buildkite


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


def scan_on() -> str:
    mode = env_str("SCAN_ON", "job.finished")
    if mode not in SCAN_MODES:
        raise ConfigError("SCAN_ON", f"must be one of {', '.join(SCAN_MODES)}, not {mode!r}")
    return mode


def _on_job(event: JobEvent, ctx: Context) -> Result:
    if scan_on() != "job.finished":
        return skipped("SCAN_ON=build.finished: jobs are scanned with their build")
    if event.event != "job.finished" or event.job_type not in (None, "script"):
        return skipped("only finished script jobs have logs")
    scan, new = _scan_job(job_of(event), ctx)
    ctx.fields.update(log_bytes=scan.size, findings=len(scan.findings))
    if scan.missing:
        return skipped(f"no log to scan: {scan.missing}")
    detail = f"{len(scan.findings)} finding(s), {new} new" if scan.findings else "log clean"
    return Result("acted", detail, provider="buildkite", operation="scan")


def _scan_job(job: JobRef, ctx: Context) -> tuple[JobScan, int]:
    """Download and scan one job's log; the scan and how many findings were new."""
    scan = scan_job(buildkite(), job, scanner(ctx))
    return scan, report(ctx, f"job {job.job_id}", messages_of(scan))


def _on_build(event: BuildEvent, ctx: Context) -> Result:
    if scan_on() != "build.finished":
        return skipped("SCAN_ON=job.finished: builds are scanned job by job")
    if event.event != "build.finished":
        return skipped("only finished builds are scanned")
    jobs = buildkite().jobs(run_of(event))
    scans = [_scan_job(job, ctx) for job in jobs]
    found = sum(len(s.findings) for s, _ in scans)
    new = sum(n for _, n in scans)
    ctx.fields.update(log_bytes=sum(s.size for s, _ in scans), findings=found, jobs=len(jobs))
    return Result(
        "acted",
        f"{len(jobs)} job log(s), {found} finding(s), {new} new",
        provider="buildkite",
        operation="scan",
    )


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
    accepts=lambda e: isinstance(e, JobEvent | BuildEvent | PullRequestEvent),
    key=lambda m, e: f"{e.source}:{getattr(e, 'job_id', None) or e.repository}:"
    f"{getattr(e, 'number', '')}:{e.commit}:{e.event}",
)
def handle(event: Any, ctx: Context) -> Result:
    """Scan what the event points at; report what is new."""
    if isinstance(event, JobEvent):
        return _on_job(event, ctx)
    if isinstance(event, BuildEvent):
        return _on_build(event, ctx)
    return _on_pull_request(event, ctx)
