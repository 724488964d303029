"""A loopback Azure DevOps REST API: build timelines, build logs, build tags, timeline issues.

Shapes follow https://learn.microsoft.com/rest/api/azure/devops/build (Timeline - Get:
``{"id", "records": [{"id", "parentId", "type", "name", "order", "result",
"log": {"id", "url"}}]}``; Builds - Get Build Log, plain text with ``Accept:
text/plain``; Tags - Add Build Tag, ``PUT .../tags/{tag}`` answering the build's
tags) and .../distributedtask/records/update (``PATCH
.../hubs/build/plans/{planId}/timelines/{timelineId}/records`` with
``{"value": [records], "count": n}``). Authentication is a PAT as HTTP Basic.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.support.fakehttp import FakeServer, Reply, Request

BUILD = r"(?P<project>/.+?)/_apis/build/builds/(?P<build>\d+)"
RECORDS = (
    r"(?P<project>/.+?)/_apis/distributedtask/hubs/build/plans/(?P<plan>[^/]+)"
    r"/timelines/(?P<timeline>[^/]+)/records"
)


class FakeAzureDevOps(FakeServer):
    def __init__(self, token: str = "azdo-test-pat") -> None:
        super().__init__()
        self.token = token
        self.timelines: dict[int, dict[str, Any]] = {}
        self.logs: dict[tuple[int, int], bytes] = {}
        self.tags: dict[int, list[str]] = {}
        self.issues: dict[str, list[dict[str, Any]]] = {}
        self.route("GET", BUILD + r"/timeline")(self._timeline)
        self.route("GET", BUILD + r"/logs/(?P<log>\d+)")(self._log)
        self.route("PUT", BUILD + r"/tags/(?P<tag>[^/]+)")(self._tag)
        self.route("PATCH", RECORDS)(self._records)

    def add_build(self, build_id: int, jobs: dict[str, list[tuple[str, int]]]) -> None:
        """A timeline: each job with its tasks as (name, log id)."""
        records: list[dict[str, Any]] = []
        for j, (job, tasks) in enumerate(jobs.items()):
            job_id = f"job-{build_id}-{j}"
            records.append(
                {
                    "id": job_id,
                    "parentId": None,
                    "type": "Job",
                    "name": job,
                    "order": j + 1,
                    "result": "succeeded",
                    "log": {"id": 900 + j},
                }
            )
            for t, (task, log_id) in enumerate(tasks):
                records.append(
                    {
                        "id": f"task-{build_id}-{j}-{t}",
                        "parentId": job_id,
                        "type": "Task",
                        "name": task,
                        "order": t + 1,
                        "result": "succeeded",
                        "log": {
                            "id": log_id,
                            "type": "Container",
                            "url": f"{self.url}/_apis/build/builds/{build_id}/logs/{log_id}",
                        },
                    }
                )
        self.timelines[build_id] = {"id": f"timeline-{build_id}", "changeId": 7, "records": records}

    def _denied(self, req: Request) -> Reply | None:
        expected = "Basic " + base64.b64encode(f":{self.token}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return Reply(401, raw=b"", headers={"WWW-Authenticate": "Basic"})
        if req.query.get("api-version", [""])[0] != "7.1":
            return Reply(400, {"message": "api-version 7.1 expected"})
        return None

    def _timeline(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        timeline = self.timelines.get(int(req.match["build"]))
        return Reply(200, timeline) if timeline else Reply(404, {"message": "build not found"})

    def _log(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        data = self.logs.get((int(req.match["build"]), int(req.match["log"])))
        if data is None:
            return Reply(404, {"message": "The requested log was not found."})
        return Reply(200, raw=data, headers={"Content-Type": "text/plain"})

    def _tag(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        tags = self.tags.setdefault(int(req.match["build"]), [])
        if req.match["tag"] not in tags:
            tags.append(req.match["tag"])
        return Reply(200, {"count": len(tags), "value": tags})

    def _records(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        body = req.json()
        if not isinstance(body, dict) or body.get("count") != len(body.get("value") or []):
            return Reply(400, {"message": "count must match the records sent"})
        for record in body["value"]:
            self.issues[str(record["id"])] = list(record.get("issues") or [])
        return Reply(200, {"count": len(body["value"]), "value": body["value"]})
