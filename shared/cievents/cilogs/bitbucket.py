"""Bitbucket Pipelines step logs through the Bitbucket Cloud REST API (``/2.0``).

* steps of a pipeline: ``GET /repositories/{workspace}/{repo}/pipelines/{uuid}/steps/``
  (``pagelen=100``, pages followed through the body's ``next``);
* one step's log: ``GET .../pipelines/{uuid}/steps/{step_uuid}/log`` (plain text,
  streamed; redirects followed).

Pipelines announce a finished pipeline through the commit status it sets
(``repo:commit_status_updated``, ``url`` ending in ``/pipelines/results/{n}``);
the pipeline's UUID is then found by its ``build_number`` in the repository's
newest pipelines (``GET .../pipelines/?sort=-created_on``, bounded).
"""

from __future__ import annotations

import base64
import re
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
from cievents.errors import UnknownTargetError
from cievents.sources._common import dig, o, s

__all__ = ["API_URL", "BitbucketLogs", "pipeline_number", "run_of_payload"]

API_URL = "https://api.bitbucket.org/2.0"
SYSTEM = "bitbucket"
_RESULTS = re.compile(r"pipelines/results/(\d+)|#!/results/(\d+)")


def pipeline_number(url: str | None) -> int | None:
    """The pipeline's build number in a Pipelines result URL, if it is one."""
    match = _RESULTS.search(url or "")
    return int(match.group(1) or match.group(2)) if match else None


def run_of_payload(body: Mapping[str, Any]) -> RunRef | None:
    """The pipeline a ``repo:commit_status_*`` body announces; None for other statuses."""
    status = o(body.get("commit_status"))
    number = pipeline_number(s(status.get("url")))
    name = s(dig(body, "repository", "full_name"))
    if number is None or not name:
        return None
    return RunRef(
        system=SYSTEM,
        project=name,
        run_id=str(number),
        number=number,
        pipeline=s(status.get("name")) or "pipeline",
        url=s(status.get("url")),
        commit=s(dig(status, "commit", "hash")),
        branch=s(status.get("refname")),
        repository=s(dig(body, "repository", "links", "html", "href")) or name,
    )


class BitbucketLogs(HttpLogSource):
    system = sink = SYSTEM

    def __init__(
        self,
        *,
        token: str | None = None,
        username: str | None = None,
        app_password: str | None = None,
        api_url: str = API_URL,
        **caps: Any,
    ) -> None:
        headers: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif username and app_password:
            basic = base64.b64encode(f"{username}:{app_password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        super().__init__(api_url=api_url, headers=headers, **caps)

    @staticmethod
    def _pipelines(run: RunRef) -> str:
        return f"/repositories/{run.project}/pipelines"

    def pipeline_uuid(self, run: RunRef) -> str:
        """The UUID of the run's pipeline: given, or found by build number (bounded)."""
        if run.run_id.startswith("{"):
            return run.run_id
        url: str | None = f"{self._pipelines(run)}/"
        params: dict[str, Any] | None = {"sort": "-created_on", "pagelen": 100}
        for _ in range(self.max_pages):
            if not url:
                break
            what = f"bitbucket: pipelines of {run.project}"
            body = json_of(self.http.get(url, params=params, what=what), what)
            for pipeline in body.get("values") or []:
                if str(pipeline.get("build_number")) == run.run_id:
                    return str(pipeline["uuid"])
            url, params = body.get("next"), None
        raise UnknownTargetError(f"bitbucket: pipeline #{run.run_id} of {run.project} not found")

    def _pages(self, run: RunRef, uuid: str) -> Iterator[list[JobRef]]:
        url: str | None = f"{self._pipelines(run)}/{quote(uuid)}/steps/"
        params: dict[str, Any] | None = {"pagelen": 100}
        while url:
            what = f"bitbucket: steps of pipeline {run.project}#{run.run_id}"
            body = json_of(self.http.get(url, params=params, what=what), what)
            yield [
                JobRef(
                    run=run,
                    job_id=str(step["uuid"]),
                    name=str(step.get("name") or step["uuid"]),
                    state=s(dig(step, "state", "result", "name")),
                    extra={"pipeline_uuid": uuid},
                )
                for step in body.get("values") or []
                if isinstance(step, Mapping) and step.get("uuid")
            ]
            url, params = body.get("next"), None

    def jobs(self, run: RunRef) -> list[JobRef]:
        what = f"bitbucket pipeline {run.project}#{run.run_id}"
        return self.bounded_jobs(self._pages(run, self.pipeline_uuid(run)), what)

    def log(self, job: JobRef) -> JobLog:
        what = f"bitbucket: log of step {job.job_id}"
        uuid = str(job.extra.get("pipeline_uuid") or self.pipeline_uuid(job.run))
        path = f"{self._pipelines(job.run)}/{quote(uuid)}/steps/{quote(job.job_id)}/log"
        return self.download(job, path, what)
