"""A loopback Buildkite REST API (``/v2``): builds with their jobs, job logs, annotations.

    with FakeBuildkite(token="bk-test-token") as bk:
        bk.add_build("acme-inc", "web-app", 42, jobs=[...])
        bk.logs["job-a"] = b"..."
        client = BuildkiteLogs(token="bk-test-token", api_url=f"{bk.url}/v2")

Shapes follow https://buildkite.com/docs/apis/rest-api (builds, jobs, annotations):
a build carries ``jobs``, each with ``id``, ``type``, ``name``, ``state``,
``log_url``, ``raw_log_url`` and ``web_url``; ``GET .../jobs/{id}/log.txt`` is the
plain-text log; ``POST .../builds/{n}/annotations`` creates an annotation, and one
with an existing ``context`` replaces that annotation's body and style (unless
``append``). A log that is not there (expired, deleted) answers 404.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.fakehttp import FakeServer, Reply, Request

BUILD = r"/v2/organizations/(?P<org>[^/]+)/pipelines/(?P<pipeline>[^/]+)/builds/(?P<number>\d+)"


def sample_jobs() -> list[dict[str, Any]]:
    """A build's jobs of every type: two script jobs (``job-a`` deploy, ``job-b`` test), a
    wait step and a block step (no logs)."""
    return [
        {"id": "job-a", "type": "script", "name": "deploy", "state": "failed"},
        {"id": "wait-1", "type": "waiter", "state": "passed"},
        {"id": "job-b", "type": "script", "label": "test", "state": "passed"},
        {"id": "gate", "type": "manual", "state": "unblocked"},
    ]


class FakeBuildkite(FakeServer):
    def __init__(self, token: str = "bk-test-token") -> None:
        super().__init__()
        self.token = token
        self.builds: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.logs: dict[str, bytes] = {}
        self.annotations: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.route("GET", BUILD)(self._build)
        self.route("GET", BUILD + r"/jobs/(?P<job>[^/]+)/log(?P<ext>\.txt)?")(self._log)
        self.route("GET", BUILD + r"/annotations")(self._list_annotations)
        self.route("POST", BUILD + r"/annotations")(self._annotate)

    def add_build(self, org: str, pipeline: str, number: int, jobs: list[dict[str, Any]]) -> None:
        base = f"/v2/organizations/{org}/pipelines/{pipeline}/builds/{number}"
        for job in jobs:
            if job.get("type") == "script":
                job.setdefault("log_url", f"https://api.buildkite.com{base}/jobs/{job['id']}/log")
                job.setdefault(
                    "raw_log_url", f"https://api.buildkite.com{base}/jobs/{job['id']}/log.txt"
                )
            job.setdefault("web_url", f"https://buildkite.com/{org}/{pipeline}/builds/{number}")
        self.builds[(org, pipeline, number)] = {
            "number": number,
            "web_url": f"https://buildkite.com/{org}/{pipeline}/builds/{number}",
            "jobs": jobs,
        }

    def _authorized(self, req: Request) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.token}"

    @staticmethod
    def _key(req: Request) -> tuple[str, str, int]:
        assert req.match is not None
        return (req.match["org"], req.match["pipeline"], int(req.match["number"]))

    def _build(self, req: Request) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"message": "Authentication required"})
        build = self.builds.get(self._key(req))
        return Reply(200, build) if build else Reply(404, {"message": "No build found"})

    def _log(self, req: Request) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"message": "Authentication required"})
        assert req.match is not None
        data = self.logs.get(req.match["job"])
        if data is None:
            return Reply(404, {"message": "Not Found"})
        return Reply(200, raw=data, headers={"Content-Type": "text/plain"})

    def _list_annotations(self, req: Request) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"message": "Authentication required"})
        return Reply(200, list(self.annotations.get(self._key(req), {}).values()))

    def _annotate(self, req: Request) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"message": "Authentication required"})
        body = req.json()
        if not isinstance(body, dict) or not body.get("body"):
            return Reply(422, {"message": "Validation failed: body can't be blank"})
        style = body.get("style", "default")
        if style not in ("success", "info", "warning", "error", "default"):
            return Reply(422, {"message": f"Validation failed: style {style!r} is not valid"})
        build = self.annotations.setdefault(self._key(req), {})
        context = str(body.get("context") or "default")
        existing = build.get(context)
        if existing and body.get("append"):
            existing["body"] += body["body"]
        elif existing:
            existing.update(body=body["body"], style=style)
        else:
            existing = build[context] = {
                "id": f"ann-{next(self._ids)}",
                "context": context,
                "style": style,
                "body": body["body"],
            }
        existing["body_html"] = existing["body"]
        return Reply(201, existing)
