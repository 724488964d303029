"""secret_scan: leaked credentials in CI job logs and in pull requests on four SCMs.

* Buildkite ``job.finished`` (``SCAN_ON=job.finished``, the default): the job's
  log is downloaded through the Buildkite REST API (streamed, capped at
  ``SCAN_MAX_LOG_BYTES``) and scanned. With ``SCAN_ON=build.finished`` the
  whole build is scanned once it finishes instead: its jobs are read from the
  builds API and the logs of at most ``SCAN_MAX_JOBS`` script jobs are scanned.
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

Settings, read once at cold start: ``BUILDKITE_API_TOKEN``, ``BUILDKITE_API_URL``;
the SCM credentials of ``cievents.scm`` (``GITHUB_APP_ID`` + ``GITHUB_APP_PRIVATE_KEY``
+ ``GITHUB_APP_INSTALLATION_ID`` or ``GITHUB_TOKEN``, ``GITLAB_TOKEN``,
``BITBUCKET_TOKEN`` or ``BITBUCKET_USERNAME`` + ``BITBUCKET_APP_PASSWORD``,
``AZURE_DEVOPS_PAT``, and their API URLs); ``SCAN_MAX_DIFF_BYTES`` (default 5 MB);
``CIEVENTS_FINDINGS_TOPIC`` (default ``security-findings``) or
``CIEVENTS_FINDINGS_PUBLISH_TO``; ``SECURITY_SLACK_CHANNEL``, ``SLACK_BOT_TOKEN``;
``CIEVENTS_FINGERPRINT_KEY``; ``SCAN_MAX_LOG_BYTES`` (default 20 MB);
``SCAN_ON`` (``job.finished`` or ``build.finished``); ``SCAN_MAX_JOBS`` (default 100).
"""

from __future__ import annotations

from typing import Any

from cievents import findings as finding_state
from cievents.cilogs import BuildkiteLogs, JobRef, JobScan, scan_job
from cievents.cilogs.buildkite import job_of, run_of
from cievents.cilogs.scan import messages_of
from cievents.config import CommonSettings, env_int, env_opt, env_str
from cievents.errors import ConfigError
from cievents.events import BuildEvent, JobEvent, PullRequestEvent
from cievents.findings_report import FindingsReporter
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.outbox import Outbox
from cievents.scanning import Scanner, warm
from cievents.scm import ScmSettings, pull_request_of
from cievents.scm import secret_gate as gate

COMMON = CommonSettings.from_env()
BUILDKITE_API = env_str("BUILDKITE_API_URL", "https://api.buildkite.com/v2").rstrip("/")
BUILDKITE_TOKEN = env_opt("BUILDKITE_API_TOKEN")
MAX_LOG_BYTES = env_int("SCAN_MAX_LOG_BYTES", 20 * 1024 * 1024, minimum=1024)
MAX_JOBS = env_int("SCAN_MAX_JOBS", 100, minimum=1)
MAX_DIFF_BYTES = env_int("SCAN_MAX_DIFF_BYTES", 5 * 1024 * 1024, minimum=1024)
SCAN_MODES = ("job.finished", "build.finished")
SCM = ScmSettings.from_env()
REPORTER = FindingsReporter.from_env(COMMON)
_scm_clients: dict[str, Any] = {}
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


def report(ctx: Context, scope: str, messages: list[Any]) -> int:
    return REPORTER.report(ctx.store, scope, messages)


def scm_client(provider: str) -> Any:
    """One client per SCM and instance; its writes go to the outbox in a dry run."""
    if provider not in _scm_clients:
        outbox = Outbox(COMMON.outbox_dir) if COMMON.dry_run else None
        _scm_clients[provider] = SCM.client(provider, outbox)
    return _scm_clients[provider]


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
