"""Buildkite job logs through the REST API (``/v2``).

* jobs of a build: ``GET /organizations/{org}/pipelines/{pipeline}/builds/{number}``
  (the build carries its ``jobs``; only ``script`` jobs have logs);
* one job's log: the job's ``raw_log_url``/``log_url`` when the event or the
  build gave one, else ``.../builds/{number}/jobs/{id}/log.txt``, asked for as
  ``text/plain`` and streamed up to the cap.

Paths are taken relative to ``BUILDKITE_API_URL`` (``/v2`` dropped), so a local
stand-in of the API works with the URLs Buildkite puts in its payloads.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from cievents.cilogs.base import (
    HttpLogSource,
    JobLog,
    JobRef,
    RunRef,
    json_of,
)
from cievents.events import BuildEvent, JobEvent

__all__ = ["API_URL", "BuildkiteLogs", "job_of", "run_of"]

API_URL = "https://api.buildkite.com/v2"
SYSTEM = "buildkite"


def api_path(url: str) -> str:
    """An API URL from a payload as a path relative to the configured API base."""
    return re.sub(r"^/v2(?=/)", "", urlsplit(url).path)


def run_of(event: BuildEvent | JobEvent) -> RunRef:
    """The build an event belongs to."""
    return RunRef(
        system=SYSTEM,
        project=f"{event.organization}/{event.pipeline}",
        run_id=str(event.number),
        number=event.number,
        pipeline=event.pipeline,
        url=event.url if isinstance(event, BuildEvent) else event.build_url,
        commit=event.commit,
        branch=event.branch,
        repository=event.repository,
        pull_request=event.pull_request,
        extra={"api_url": event.api_url} if isinstance(event, BuildEvent) else {},
    )


def job_of(event: JobEvent) -> JobRef:
    """The job a ``job.*`` event names."""
    return JobRef(
        run=run_of(event),
        job_id=event.job_id,
        name=event.job_name or event.job_id,
        state=event.state,
        log_url=event.log_url,
        url=event.url,
    )


class BuildkiteLogs(HttpLogSource):
    system = sink = SYSTEM

    def __init__(self, *, token: str | None, api_url: str = API_URL, **caps: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        super().__init__(api_url=api_url, headers=headers, **caps)

    def build_path(self, run: RunRef) -> str:
        api_url = run.extra.get("api_url")
        if api_url:
            return api_path(str(api_url))
        organization, pipeline = run.project.split("/", 1)
        return f"/organizations/{organization}/pipelines/{pipeline}/builds/{run.run_id}"

    def jobs(self, run: RunRef) -> list[JobRef]:
        """The build's script jobs (the others have no log), at most ``max_jobs``."""
        what = f"buildkite: build {run.project}#{run.run_id}"
        build = json_of(self.http.get(self.build_path(run), what=what), what)
        scripts = [
            JobRef(
                run=run,
                job_id=str(j["id"]),
                name=str(j.get("name") or j.get("label") or j["id"]),
                state=j.get("state"),
                log_url=j.get("raw_log_url") or j.get("log_url"),
                url=j.get("web_url"),
            )
            for j in (build.get("jobs") or [] if isinstance(build, dict) else [])
            if isinstance(j, dict) and j.get("type") == "script" and j.get("id")
        ]
        return self.bounded_jobs([scripts], what)

    def log_path(self, job: JobRef) -> str:
        if job.log_url:
            return api_path(job.log_url)
        organization, pipeline = job.run.project.split("/", 1)
        return (
            f"/organizations/{organization}/pipelines/{pipeline}/builds/{job.run.run_id}"
            f"/jobs/{job.job_id}/log.txt"
        )

    def log(self, job: JobRef) -> JobLog:
        what = f"buildkite: log of job {job.job_id}"
        return self.download(job, self.log_path(job), what, headers={"Accept": "text/plain"})
