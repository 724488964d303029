"""Azure Pipelines build logs through the Azure DevOps REST API (``api-version=7.1``).

* jobs of a build: ``GET {org}/{project}/_apis/build/builds/{buildId}/timeline`` —
  every ``Task`` record with a ``log`` is one log (the ``Job`` records' logs repeat
  their tasks' output, so they are not scanned twice);
* one task's log: ``GET {org}/{project}/_apis/build/builds/{buildId}/logs/{logId}``
  asked for as ``text/plain`` and streamed.

The organization and project come from the ``build.complete`` resource's ``url``
(``https://dev.azure.com/{org}/{project}/_apis/build/Builds/{id}``); requests go to
the host of ``AZURE_DEVOPS_ORG_URL`` when it is set, so a local stand-in works.
Authentication is a PAT as HTTP Basic (empty user), as Azure DevOps documents.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cievents.cilogs.base import (
    HttpLogSource,
    JobLog,
    JobRef,
    RunRef,
    json_of,
)
from cievents.errors import ValidationError
from cievents.sources._common import branch_of, dig, o, s

__all__ = ["API_VERSION", "AzureLogs", "project_of_url", "run_of_payload"]

API_VERSION = "7.1"
SYSTEM = "azure"
_BUILD_URL = re.compile(r"^(?P<project>/.+?)/_apis/build/builds/(?P<id>\d+)", re.IGNORECASE)


def project_of_url(url: str) -> tuple[str, str]:
    """(``/{org}/{project}`` path, build id) of a build's REST URL."""
    match = _BUILD_URL.match(urlsplit(url).path)
    if not match:
        raise ValidationError(f"not an Azure DevOps build URL: {url}", reason="bad_field")
    return match["project"], match["id"]


def run_of_payload(body: Mapping[str, Any]) -> RunRef:
    """The build of a ``build.complete`` service-hook body."""
    resource = o(body.get("resource"))
    url = s(resource.get("url")) or ""
    project, build_id = project_of_url(url)
    pr = s(dig(resource, "triggerInfo", "pr.number"))
    return RunRef(
        system=SYSTEM,
        project=project,
        run_id=build_id,
        number=int(build_id),
        pipeline=s(dig(resource, "definition", "name")),
        url=s(dig(resource, "_links", "web", "href")) or url,
        commit=s(resource.get("sourceVersion")),
        branch=branch_of(s(resource.get("sourceBranch"))),
        repository=s(dig(resource, "repository", "url")) or s(dig(resource, "repository", "name")),
        pull_request=int(pr) if pr and pr.isdigit() else None,
        extra={
            "plan_id": s(dig(resource, "orchestrationPlan", "planId")),
            "build_number": s(resource.get("buildNumber")),
        },
    )


class AzureLogs(HttpLogSource):
    system = SYSTEM
    sink = "azure-devops"

    def __init__(
        self, *, token: str | None, api_url: str = "https://dev.azure.com", **caps: Any
    ) -> None:
        headers: dict[str, str] = {}
        if token:
            basic = base64.b64encode(f":{token}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        parts = urlsplit(api_url)
        super().__init__(api_url=f"{parts.scheme}://{parts.netloc}", headers=headers, **caps)

    def build_path(self, run: RunRef) -> str:
        return f"{run.project}/_apis/build/builds/{run.run_id}"

    def timeline(self, run: RunRef) -> Mapping[str, Any]:
        what = f"azure-devops: timeline of build {run.run_id}"
        response = self.http.get(
            f"{self.build_path(run)}/timeline", params={"api-version": API_VERSION}, what=what
        )
        body = json_of(response, what)
        return body if isinstance(body, Mapping) else {}

    def jobs(self, run: RunRef) -> list[JobRef]:
        timeline = self.timeline(run)
        records = [o(r) for r in timeline.get("records") or [] if isinstance(r, Mapping)]
        names = {r.get("id"): r.get("name") for r in records}
        tasks = [
            JobRef(
                run=run,
                job_id=str(r["id"]),
                name=f"{names.get(r.get('parentId')) or 'Job'} / {r.get('name') or r['id']}",
                state=r.get("result") or r.get("state"),
                log_url=s(dig(r, "log", "url")),
                extra={
                    "log_id": dig(r, "log", "id"),
                    "timeline_id": timeline.get("id"),
                    "job_record": r.get("parentId"),
                },
            )
            for r in sorted(records, key=lambda r: (str(r.get("parentId")), r.get("order") or 0))
            if r.get("type") == "Task" and isinstance(r.get("log"), Mapping) and r.get("id")
        ]
        return self.bounded_jobs([tasks], f"build {run.run_id}")

    def log(self, job: JobRef) -> JobLog:
        what = f"azure-devops: log {job.extra.get('log_id')} of build {job.run.run_id}"
        path = f"{self.build_path(job.run)}/logs/{job.extra.get('log_id')}"
        return self.download(
            job, path, what, params={"api-version": API_VERSION}, headers={"Accept": "text/plain"}
        )
