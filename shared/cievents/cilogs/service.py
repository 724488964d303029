"""secret_scan's CI path: from a finished-job or finished-run event to findings, reports and
the write-back on the build. ``functions/secret_scan`` only routes events here.

    ci = CiScan.from_env()                       # once, at cold start
    result = ci.handle(event, ctx, scanner, report)

``report(ctx, scope, messages) -> int`` publishes each new finding once per scope and
fingerprint and alerts (the function's own); the scope of a job is its system and job
id, so a job is reported once however often and in whatever order its events arrive,
and whether it was reached through its own event or its run's.

The findings of a run are kept in the idempotency store's per-key state
(``secret_scan:run:<system>:<project>:<run>``); the write-back shows all of them and
is redone only when that set changed since the last successful write.

Settings (read once): ``SCAN_ON``; ``SCAN_MAX_LOG_BYTES`` (default 20 MB),
``SCAN_MAX_JOBS`` (100), ``SCAN_MAX_PAGES`` (20); ``SCAN_WRITE_BACK`` (default on);
per system ``BUILDKITE_API_TOKEN``/``BUILDKITE_API_URL``, ``GITHUB_TOKEN``/
``GITHUB_API_URL``, ``GITLAB_TOKEN``/``GITLAB_API_URL``, ``AZURE_DEVOPS_PAT``/
``AZURE_DEVOPS_API_URL``, ``BITBUCKET_TOKEN`` (or ``BITBUCKET_USERNAME`` +
``BITBUCKET_APP_PASSWORD``)/``BITBUCKET_API_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cievents import log
from cievents.cilogs.azure import AzureLogs
from cievents.cilogs.base import DEFAULT_MAX_LOG_BYTES, JobRef, LogSource, RunRef
from cievents.cilogs.bitbucket import BitbucketLogs
from cievents.cilogs.buildkite import BuildkiteLogs
from cievents.cilogs.github import GitHubLogs
from cievents.cilogs.gitlab import GitLabLogs
from cievents.cilogs.scan import JobScan, messages_of, scan_job
from cievents.cilogs.targets import Target, scan_modes, target_of
from cievents.cilogs.writeback import (
    AzureWriteBack,
    BuildkiteWriteBack,
    GitLabNoteWriteBack,
    ScmCheckWriteBack,
    WriteBack,
    digest,
    entry_of,
)
from cievents.config import env_bool, env_int, env_opt, env_str
from cievents.events import Event
from cievents.findings import FindingMessage
from cievents.handler import Context, Result, skipped
from cievents.http import HttpClient
from cievents.idempotency.base import update_state
from cievents.outbox import Outbox
from cievents.scanning import Scanner
from cievents.scm import ScmSettings

__all__ = ["CiScan", "Report", "sources_from_env"]

Report = Callable[[Context, str, list[FindingMessage]], int]
Env = Mapping[str, str]


def sources_from_env(
    environ: Env | None = None, scm: ScmSettings | None = None
) -> dict[str, LogSource]:
    """One log source per CI system, from the settings in the environment (GitHub logs are
    read as the App of ``scm`` when there is one and no ``GITHUB_TOKEN``)."""
    env = os.environ if environ is None else environ
    app = scm.client("github") if scm is not None and scm.app is not None else None
    caps: dict[str, Any] = {
        "max_log_bytes": env_int(
            "SCAN_MAX_LOG_BYTES", DEFAULT_MAX_LOG_BYTES, minimum=1024, environ=env
        ),
        "max_jobs": env_int("SCAN_MAX_JOBS", 100, minimum=1, environ=env),
    }
    pages = env_int("SCAN_MAX_PAGES", 20, minimum=1, environ=env)
    return {
        "buildkite": BuildkiteLogs(
            token=env_opt("BUILDKITE_API_TOKEN", environ=env),
            api_url=env_str("BUILDKITE_API_URL", "https://api.buildkite.com/v2", environ=env),
            **caps,
        ),
        "github": GitHubLogs(
            token=env_opt("GITHUB_TOKEN", environ=env),
            api_url=env_str("GITHUB_API_URL", "https://api.github.com", environ=env),
            max_pages=pages,
            app_token=app.installation_token if app is not None else None,
            **caps,
        ),
        "gitlab": GitLabLogs(
            token=env_opt("GITLAB_TOKEN", environ=env),
            api_url=env_str("GITLAB_API_URL", "https://gitlab.com/api/v4", environ=env),
            max_pages=pages,
            **caps,
        ),
        "azure": AzureLogs(
            token=env_opt("AZURE_DEVOPS_PAT", environ=env),
            api_url=env_str("AZURE_DEVOPS_API_URL", "https://dev.azure.com", environ=env),
            **caps,
        ),
        "bitbucket": BitbucketLogs(
            token=env_opt("BITBUCKET_TOKEN", environ=env),
            username=env_opt("BITBUCKET_USERNAME", environ=env),
            app_password=env_opt("BITBUCKET_APP_PASSWORD", environ=env),
            api_url=env_str("BITBUCKET_API_URL", "https://api.bitbucket.org/2.0", environ=env),
            max_pages=pages,
            **caps,
        ),
    }


def _written(done: str) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    return lambda state: {**state, "written": done}


HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}


@dataclass
class CiScan:
    sources: Mapping[str, LogSource]
    modes: Mapping[str, str]
    scm: ScmSettings
    write_back: bool = True
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Env | None = None) -> CiScan:
        env = os.environ if environ is None else environ
        scm = ScmSettings.from_env(env)
        return cls(
            sources=sources_from_env(env, scm),
            modes=scan_modes(env_opt("SCAN_ON", environ=env)),
            scm=scm,
            write_back=env_bool("SCAN_WRITE_BACK", True, environ=env),
        )

    def writer(self, system: str, outbox: Outbox | None) -> WriteBack:
        """The system's write-back; with ``outbox`` (dry run) its writes are recorded only."""
        if system in ("buildkite", "azure"):
            http = self.sources[system].http
            if outbox is not None:
                http = HttpClient(sink=http.sink, base_url=http.base_url, outbox=outbox)
            return BuildkiteWriteBack(http) if system == "buildkite" else AzureWriteBack(http)
        if outbox is not None:
            client = self.scm.client(system, outbox)
        else:  # one live client per instance: a GitHub App's installation token is reused
            client = self._clients.get(system) or self._clients.setdefault(
                system, self.scm.client(system)
            )
        if system == "gitlab":
            return GitLabNoteWriteBack(client, HOSTS[system])
        return ScmCheckWriteBack(system, client, HOSTS[system])

    def target(self, event: Event) -> Target | str:
        return target_of(event, self.modes)

    def handle(self, event: Event, ctx: Context, scanner: Scanner, report: Report) -> Result:
        target = self.target(event)
        if isinstance(target, str):
            return skipped(target)
        source = self.sources[target.system]
        jobs = [target.job] if target.job else source.jobs(target.run)
        scans = [scan_job(source, job, scanner) for job in jobs]
        new = sum(report(ctx, self.scope(s.job), messages_of(s)) for s in scans if s.findings)
        found = sum(len(s.findings) for s in scans)
        missing = [s for s in scans if s.missing]
        ctx.fields.update(
            log_bytes=sum(s.size for s in scans),
            findings=found,
            jobs=len(jobs),
            masked=sum(s.masked for s in scans),
            truncated=sum(1 for s in scans if s.truncated),
        )
        written = self.record_and_write(ctx, target.run, scans) if found else ""
        if target.job and missing:
            return skipped(f"no log to scan: {missing[0].missing}")
        detail = f"{len(jobs)} job log(s), {found} finding(s), {new} new"
        if missing:
            detail += f", {len(missing)} log(s) gone"
        if written:
            detail += f"; written back: {written}"
        return Result("acted", detail, provider=target.system, operation="scan")

    @staticmethod
    def scope(job: JobRef) -> str:
        """The report scope of a job (Buildkite's keeps its historical form)."""
        if job.run.system == "buildkite":
            return f"job {job.job_id}"
        return f"{job.run.system} job {job.run.project}/{job.job_id}"

    def record_and_write(self, ctx: Context, run: RunRef, scans: Sequence[JobScan]) -> str:
        """Add this scan's findings to the run's, and write the run's report back if the set
        changed since it was last written."""
        key = f"secret_scan:run:{run.system}:{run.project}:{run.run_id}"
        entries = {
            f.fingerprint: entry_of(f, s.job, s.advice[f.fingerprint].to_dict())
            for s in scans
            for f in s.findings
        }

        def add(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
            known = dict(state.get("findings") or {})
            if all(fp in known for fp in entries):
                return None
            return {**state, "findings": {**known, **entries}}

        state = update_state(ctx.store, key, add) or {}
        if not self.write_back:
            return ""
        written = ""
        for _ in range(3):  # another job of the run may add findings while this one writes
            current = list((state.get("findings") or {}).values())
            if state.get("written") == digest(current):
                return written or "up to date"
            outbox = Outbox(ctx.settings.outbox_dir) if ctx.settings.dry_run else None
            written = self.writer(run.system, outbox).write(run, current)
            log.logger.info("finding written back to the build", system=run.system, how=written)
            done = digest(current)
            state = update_state(ctx.store, key, _written(done)) or {}
            if digest(list((state.get("findings") or {}).values())) == done:
                break
        return written
