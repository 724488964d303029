"""GitLab CI job logs through the REST API (``/api/v4``).

* jobs of a pipeline: ``GET /projects/{id}/pipelines/{pipeline_id}/jobs``
  (``per_page=100``, pages followed through ``X-Next-Page``);
* one job's log: ``GET /projects/{id}/jobs/{job_id}/trace`` (plain text, streamed).

A job whose trace was erased or expired answers ``404``: reported as missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from cievents.cilogs.base import (
    HttpLogSource,
    JobLog,
    JobRef,
    RunRef,
    json_of,
)
from cievents.sources._common import dig, o, s

__all__ = ["API_URL", "GitLabLogs", "job_of_payload", "run_of_payload"]

API_URL = "https://gitlab.com/api/v4"
SYSTEM = "gitlab"


def _project_id(body: Mapping[str, Any]) -> str:
    return str(
        s(body.get("project_id"))
        or s(dig(body, "project", "id"))
        or s(dig(body, "project", "path_with_namespace"))
    )


def run_of_payload(body: Mapping[str, Any]) -> RunRef:
    """The pipeline of a Pipeline Hook or Job Hook body."""
    web = s(dig(body, "project", "web_url")) or s(dig(body, "repository", "homepage"))
    if body.get("object_kind") == "pipeline":
        attrs = o(body.get("object_attributes"))
        pipeline_id, commit, ref = s(attrs.get("id")), s(attrs.get("sha")), s(attrs.get("ref"))
        url = s(attrs.get("url"))
    else:
        pipeline_id, commit, ref = (
            s(body.get("pipeline_id")),
            s(body.get("sha")),
            s(body.get("ref")),
        )
        url = None
    mr = o(body.get("merge_request"))
    return RunRef(
        system=SYSTEM,
        project=_project_id(body),
        run_id=str(pipeline_id),
        number=int(pipeline_id) if pipeline_id and pipeline_id.isdigit() else None,
        pipeline=s(dig(body, "project", "path_with_namespace")) or s(body.get("project_name")),
        url=url or (f"{web}/-/pipelines/{pipeline_id}" if web else None),
        commit=commit,
        branch=ref,
        repository=web,
        pull_request=mr.get("iid") if isinstance(mr.get("iid"), int) else None,
        extra={"merge_request_project": s(mr.get("target_project_id"))},
    )


def _job_ref(run: RunRef, job: Mapping[str, Any]) -> JobRef:
    return JobRef(
        run=run,
        job_id=str(job["id"]),
        name=str(job.get("name") or job["id"]),
        state=job.get("status"),
        url=job.get("web_url"),
        extra={"stage": job.get("stage")},
    )


def job_of_payload(body: Mapping[str, Any]) -> JobRef:
    """The job of a Job Hook body (``object_kind: build``)."""
    run = run_of_payload(body)
    return JobRef(
        run=run,
        job_id=str(body["build_id"]),
        name=str(body.get("build_name") or body["build_id"]),
        state=body.get("build_status"),
        url=f"{run.repository}/-/jobs/{body['build_id']}" if run.repository else None,
        extra={"stage": body.get("build_stage")},
    )


class GitLabLogs(HttpLogSource):
    system = sink = SYSTEM

    def __init__(self, *, token: str | None, api_url: str = API_URL, **caps: Any) -> None:
        super().__init__(api_url=api_url, headers={"PRIVATE-TOKEN": token} if token else {}, **caps)

    @staticmethod
    def project_path(project: str) -> str:
        return f"/projects/{quote(project, safe='')}"

    def _pages(self, run: RunRef) -> Iterator[list[JobRef]]:
        page: str | None = "1"
        path = f"{self.project_path(run.project)}/pipelines/{run.run_id}/jobs"
        while page:
            what = f"gitlab: jobs of pipeline {run.project}/{run.run_id}"
            response = self.http.get(path, params={"per_page": 100, "page": page}, what=what)
            body = json_of(response, what)
            yield [_job_ref(run, j) for j in body if isinstance(j, Mapping)]
            page = response.headers.get("X-Next-Page") or None

    def jobs(self, run: RunRef) -> list[JobRef]:
        return self.bounded_jobs(self._pages(run), f"gitlab pipeline {run.project}/{run.run_id}")

    def log(self, job: JobRef) -> JobLog:
        what = f"gitlab: trace of job {job.job_id}"
        return self.download(
            job, f"{self.project_path(job.run.project)}/jobs/{job.job_id}/trace", what
        )
