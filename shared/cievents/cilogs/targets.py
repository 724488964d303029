"""Which CI events secret_scan acts on, and what each one points at (a job, or a whole run).

``SCAN_ON`` picks, per CI system, whether logs are scanned as each job finishes
(``job.finished``) or once the whole run has finished (``build.finished``): one
mode for all systems (``SCAN_ON=job.finished``, the default), optionally followed by
per-system overrides (``SCAN_ON=job.finished,github=build.finished``). The events:

=========== ============================================ =================================
system      ``job.finished``                              ``build.finished``
=========== ============================================ =================================
buildkite   ``job.finished`` (script jobs)                ``build.finished``
github      ``workflow_job`` ``completed``                ``workflow_run`` ``completed``
gitlab      ``build`` (Job Hook) in a final status        ``pipeline`` in a final status
azure       ``build.complete`` (the run: Azure announces  ``build.complete``
            no finished job)
bitbucket   ``repo:commit_status_*`` of a Pipelines run   the same
            in a final state (no step-level event)
=========== ============================================ =================================

Every other event of these systems is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cievents.cilogs import azure, bitbucket, buildkite, github, gitlab
from cievents.cilogs.base import JobRef, RunRef
from cievents.errors import ConfigError
from cievents.events import BuildEvent, Event, JobEvent
from cievents.sources._common import dig, s

__all__ = ["MODES", "SYSTEMS", "Target", "is_ci_event", "message_key", "scan_modes", "target_of"]

SYSTEMS = ("buildkite", "github", "gitlab", "azure", "bitbucket")
MODES = ("job.finished", "build.finished")
# Event source (as ingest names it) → CI system.
SOURCE_SYSTEM = {
    "buildkite": "buildkite",
    "github": "github",
    "gitlab": "gitlab",
    "azure-devops": "azure",
    "bitbucket": "bitbucket",
}
RUN_ONLY = ("azure", "bitbucket")
GITLAB_FINAL = frozenset({"success", "failed", "canceled", "skipped", "manual"})
BITBUCKET_FINAL = frozenset({"SUCCESSFUL", "FAILED", "STOPPED"})
CI_EVENTS = {
    "buildkite": ("job.finished", "build.finished"),
    "github": ("workflow_job", "workflow_run"),
    "gitlab": ("build", "pipeline"),
    "azure-devops": ("build.complete",),
    "bitbucket": ("repo:commit_status_created", "repo:commit_status_updated"),
}


@dataclass(frozen=True)
class Target:
    """What one event asks to scan: one job, or every job of a run (``job`` is None)."""

    run: RunRef
    job: JobRef | None = None

    @property
    def system(self) -> str:
        return self.run.system


def scan_modes(value: str | None) -> dict[str, str]:
    """``SCAN_ON`` → the mode of each system."""
    parts = [p.strip() for p in (value or "job.finished").split(",") if p.strip()]
    default = "job.finished"
    if parts and "=" not in parts[0]:
        default = parts.pop(0)
    modes = dict.fromkeys(SYSTEMS, default)
    for part in parts:
        system, _, mode = part.partition("=")
        if system.strip() not in SYSTEMS:
            raise ConfigError(
                "SCAN_ON", f"unknown CI system {system.strip()!r}; one of {', '.join(SYSTEMS)}"
            )
        modes[system.strip()] = mode.strip()
    for system, mode in modes.items():
        if mode not in MODES:
            raise ConfigError(
                "SCAN_ON",
                f"{mode!r} for {system}: expected {' or '.join(MODES)} "
                "(e.g. SCAN_ON=job.finished,github=build.finished)",
            )
    return modes


def is_ci_event(event: Event) -> bool:
    return event.event in CI_EVENTS.get(event.source, ())


def _raw(event: Event) -> Mapping[str, Any]:
    return event.raw


def target_of(event: Event, modes: Mapping[str, str]) -> Target | str:
    """The target of a CI event, or why it is skipped."""
    system = SOURCE_SYSTEM.get(event.source, "")
    mode = modes.get(system, "job.finished")
    wants_job = mode == "job.finished" and system not in RUN_ONLY
    body = _raw(event)
    if system == "buildkite":
        if isinstance(event, JobEvent):
            if not wants_job:
                return "SCAN_ON=build.finished for buildkite: jobs are scanned with their build"
            if event.event != "job.finished" or event.job_type not in (None, "script"):
                return "only finished script jobs have logs"
            return Target(buildkite.run_of(event), buildkite.job_of(event))
        if isinstance(event, BuildEvent) and event.event == "build.finished":
            if wants_job:
                return "SCAN_ON=job.finished for buildkite: builds are scanned job by job"
            return Target(buildkite.run_of(event))
    elif system == "github":
        if body.get("action") != "completed":
            return f"{event.event} {body.get('action')}: scanned once completed"
        if event.event == "workflow_job":
            if not wants_job:
                return "SCAN_ON=build.finished for github: jobs are scanned with their run"
            job = github.job_of_payload(body)
            return Target(job.run, job)
        if event.event == "workflow_run":
            if wants_job:
                return "SCAN_ON=job.finished for github: runs are scanned job by job"
            return Target(github.run_of_payload(body))
    elif system == "gitlab":
        if event.event == "build":
            if not wants_job:
                return "SCAN_ON=build.finished for gitlab: jobs are scanned with their pipeline"
            if s(body.get("build_status")) not in GITLAB_FINAL:
                return f"job {s(body.get('build_status'))}: scanned once finished"
            job = gitlab.job_of_payload(body)
            return Target(job.run, job)
        if event.event == "pipeline":
            if wants_job:
                return "SCAN_ON=job.finished for gitlab: pipelines are scanned job by job"
            status = s(dig(body, "object_attributes", "status"))
            if status not in GITLAB_FINAL:
                return f"pipeline {status}: scanned once finished"
            return Target(gitlab.run_of_payload(body))
    elif system == "azure" and event.event == "build.complete":
        return Target(azure.run_of_payload(body))
    elif system == "bitbucket" and event.event.startswith("repo:commit_status_"):
        state = s(dig(body, "commit_status", "state"))
        run = bitbucket.run_of_payload(body)
        if run is None:
            return "commit status not set by Bitbucket Pipelines"
        if state not in BITBUCKET_FINAL:
            return f"pipeline {state}: scanned once finished"
        return Target(run)
    return f"{event.source} {event.event}: not a finished job or run"


def message_key(event: Event) -> str:
    """The idempotency key of a CI event's delivery: the job or run and what happened."""
    body = _raw(event)
    if isinstance(event, JobEvent):
        thing = f"job:{event.job_id}"
    elif event.source == "github":
        thing = (
            f"job:{dig(body, 'workflow_job', 'id')}"
            if event.event == "workflow_job"
            else (
                f"run:{dig(body, 'workflow_run', 'id')}:{dig(body, 'workflow_run', 'run_attempt')}"
            )
        )
    elif event.source == "bitbucket":
        thing = f"run:{dig(body, 'repository', 'full_name')}:{dig(body, 'commit_status', 'url')}"
    elif isinstance(event, BuildEvent):
        thing = f"run:{event.pipeline}:{event.build_id or event.number}"
    else:
        thing = f"delivery:{event.delivery_id}"
    state = (
        s(body.get("action"))
        or s(dig(body, "commit_status", "state"))
        or s(body.get("build_status"))
        or s(dig(body, "object_attributes", "status"))
        or s(dig(body, "resource", "result"))
        or s(dig(body, "resource", "status"))
        or ""
    )
    return f"{event.source}:{thing}:{event.event}:{state}"
