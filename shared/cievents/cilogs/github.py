"""GitHub Actions job logs through the REST API.

* jobs of a workflow run: ``GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs``
  (``per_page=100``, ``filter=latest``, pages followed through the ``Link`` header);
* one job's log: ``GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs``, which
  answers ``302`` to a short-lived download URL (followed; the token is not sent
  to the other host) and the plain-text log;
* the run's log archive: ``GET /repos/{owner}/{repo}/actions/runs/{run_id}/logs``,
  a zip of one file per step (``<job>/<n>_<step>.txt``), read by :func:`archive_logs`.

Expired logs answer ``404``/``410``: reported as missing, not retried.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cievents.cilogs.base import (
    HttpLogSource,
    JobLog,
    JobRef,
    RunRef,
    bounded,
    json_of,
    read_capped,
)
from cievents.errors import UnknownTargetError
from cievents.sources._common import dig, o, s

__all__ = ["API_URL", "GitHubLogs", "archive_logs", "job_of_payload", "run_of_payload"]

API_URL = "https://api.github.com"
SYSTEM = "github"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def run_of_payload(body: Mapping[str, Any]) -> RunRef:
    """The run of a ``workflow_run`` or ``workflow_job`` webhook body."""
    run, job = o(body.get("workflow_run")), o(body.get("workflow_job"))
    prs = [o(p) for p in run.get("pull_requests") or []]
    repo = s(dig(body, "repository", "full_name")) or ""
    number = run.get("run_number")
    pr = prs[0].get("number") if prs else None
    return RunRef(
        system=SYSTEM,
        project=repo,
        run_id=str(s(run.get("id")) or s(job.get("run_id"))),
        number=number if isinstance(number, int) else None,
        pipeline=s(run.get("name")) or s(job.get("workflow_name")),
        url=s(run.get("html_url")) or s(job.get("run_url")),
        commit=s(run.get("head_sha")) or s(job.get("head_sha")),
        branch=s(run.get("head_branch")) or s(job.get("head_branch")),
        repository=repo,
        pull_request=pr if isinstance(pr, int) else None,
        extra={
            "attempt": run.get("run_attempt") or job.get("run_attempt"),
            "definition": s(run.get("path")),
        },
    )


def _job_ref(run: RunRef, job: Mapping[str, Any]) -> JobRef:
    return JobRef(
        run=run,
        job_id=str(job["id"]),
        name=str(job.get("name") or job["id"]),
        state=job.get("conclusion") or job.get("status"),
        url=job.get("html_url"),
        extra={"check_run_url": job.get("check_run_url"), "head_sha": job.get("head_sha")},
    )


def job_of_payload(body: Mapping[str, Any]) -> JobRef:
    """The job of a ``workflow_job`` webhook body."""
    return _job_ref(run_of_payload(body), o(body.get("workflow_job")))


class GitHubLogs(HttpLogSource):
    system = sink = SYSTEM

    def __init__(
        self,
        *,
        token: str | None,
        api_url: str = API_URL,
        app_token: Callable[[], str] | None = None,
        **caps: Any,
    ) -> None:
        """``app_token`` gives a GitHub App installation token (cached by its issuer) when
        the deploy reads logs as an App rather than with ``token``."""
        headers = dict(HEADERS)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._app_token = None if token else app_token
        super().__init__(api_url=api_url, headers=headers, **caps)

    def _auth(self) -> dict[str, str] | None:
        return {"Authorization": f"Bearer {self._app_token()}"} if self._app_token else None

    def _pages(self, run: RunRef) -> Iterator[list[JobRef]]:
        url: str | None = f"/repos/{run.project}/actions/runs/{run.run_id}/jobs"
        params: dict[str, Any] | None = {"per_page": 100, "filter": "latest"}
        while url:
            what = f"github: jobs of run {run.project}/{run.run_id}"
            response = self.http.get(url, params=params, headers=self._auth(), what=what)
            body = json_of(response, what)
            yield [_job_ref(run, j) for j in body.get("jobs") or [] if isinstance(j, Mapping)]
            url, params = response.links.get("next", {}).get("url"), None

    def jobs(self, run: RunRef) -> list[JobRef]:
        return self.bounded_jobs(self._pages(run), f"github run {run.project}/{run.run_id}")

    def log(self, job: JobRef) -> JobLog:
        what = f"github: log of job {job.job_id}"
        path = f"/repos/{job.run.project}/actions/jobs/{job.job_id}/logs"
        return self.download(job, path, what, headers=self._auth())

    def archive(self, run: RunRef) -> list[JobLog]:
        """Every step's log from the run's log archive (one download for the whole run)."""
        what = f"github: log archive of run {run.project}/{run.run_id}"
        path = f"/repos/{run.project}/actions/runs/{run.run_id}/logs"
        try:
            response = self.http.get(path, stream=True, headers=self._auth(), what=what)
        except UnknownTargetError:
            return []
        data, _ = read_capped(response, self.max_log_bytes, what=what)
        return archive_logs(run, data, self.max_log_bytes, self.max_jobs)


def archive_logs(run: RunRef, data: bytes, max_bytes: int, max_files: int) -> list[JobLog]:
    """The per-step files of a run's log archive as job logs named ``<job> / <step>``.

    The archive also holds one whole-job file per job at its top level
    (``<n>_<job>.txt``) that repeats its steps; those are skipped when the job's
    step files are there, so each line is scanned once.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return []
    names = [i.filename for i in archive.infolist() if not i.is_dir()]
    folders = {n.split("/", 1)[0] for n in names if "/" in n}
    logs: list[JobLog] = []
    for name in sorted(names):
        if "/" not in name and name.split("_", 1)[-1].removesuffix(".txt") in folders:
            continue
        with archive.open(name) as handle:
            text = handle.read(max_bytes + 1)
        job, _, step = name.partition("/")
        label = f"{job} / {step.removesuffix('.txt')}" if step else name.removesuffix(".txt")
        ref = JobRef(run=run, job_id=f"{run.run_id}:{name}", name=label)
        logs.append(JobLog(ref, text[:max_bytes], len(text) > max_bytes))
    return bounded([logs], max_items=max_files, max_pages=1, what=f"archive of {run.run_id}")
