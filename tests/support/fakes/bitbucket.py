"""A loopback Bitbucket Cloud REST API (``/2.0``): pipelines, steps, step logs, Code Insights.

Shapes follow https://developer.atlassian.com/cloud/bitbucket/rest/api-group-pipelines/
(``GET .../pipelines/`` and ``.../pipelines/{uuid}/steps/`` are pages
``{"values", "page", "pagelen", "size", "next"}``; ``.../steps/{step_uuid}/log``
is the step's plain-text log, ``404`` when there is none) and
.../api-group-reports/ (``PUT .../commit/{commit}/reports/{reportId}``,
``POST .../reports/{reportId}/annotations``). Authentication is a Bearer token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tests.support.fakehttp import FakeServer, Reply, Request

REPO = r"/2.0/repositories/(?P<repo>[^/]+/[^/]+)"


class FakeBitbucket(FakeServer):
    def __init__(self, token: str = "bb-test-token") -> None:
        super().__init__()
        self.token = token
        self.pipelines: dict[str, list[dict[str, Any]]] = {}
        self.steps: dict[str, list[dict[str, Any]]] = {}
        self.logs: dict[str, bytes] = {}
        self.reports: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.annotations: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.route("GET", REPO + r"/pipelines/")(self._list_pipelines)
        self.route("GET", REPO + r"/pipelines/(?P<uuid>[^/]+)/steps/")(self._steps)
        self.route("GET", REPO + r"/pipelines/(?P<uuid>[^/]+)/steps/(?P<step>[^/]+)/log")(self._log)
        self.route("PUT", REPO + r"/commit/(?P<commit>\w+)/reports/(?P<report>[^/]+)")(self._report)
        self.route("POST", REPO + r"/commit/(?P<commit>\w+)/reports/(?P<report>[^/]+)/annotations")(
            self._annotate
        )

    def add_pipeline(self, repo: str, number: int, uuid: str, steps: list[dict[str, Any]]) -> None:
        self.pipelines.setdefault(repo, []).insert(
            0, {"type": "pipeline", "uuid": uuid, "build_number": number}
        )
        self.steps[uuid] = steps

    def _denied(self, req: Request) -> Reply | None:
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"type": "error", "error": {"message": "Unauthorized"}})
        return None

    def _page(self, req: Request, values: list[dict[str, Any]]) -> Reply:
        pagelen = min(int(req.query.get("pagelen", ["10"])[0]), 100)
        page = int(req.query.get("page", ["1"])[0])
        body: dict[str, Any] = {
            "page": page,
            "pagelen": pagelen,
            "size": len(values),
            "values": values[(page - 1) * pagelen : page * pagelen],
        }
        if page * pagelen < len(values):
            body["next"] = f"{self.url}{req.path}?pagelen={pagelen}&page={page + 1}"
        return Reply(200, body)

    def _list_pipelines(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        return self._page(req, self.pipelines.get(req.match["repo"], []))

    def _steps(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        steps = self.steps.get(unquote(req.match["uuid"]))
        if steps is None:
            return Reply(404, {"type": "error", "error": {"message": "Pipeline not found"}})
        return self._page(req, steps)

    def _log(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        data = self.logs.get(unquote(req.match["step"]))
        if data is None:
            return Reply(404, {"type": "error", "error": {"message": "Log not found"}})
        return Reply(200, raw=data, headers={"Content-Type": "application/octet-stream"})

    def _report(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        body = req.json()
        for field in ("title", "report_type"):
            if not body.get(field):
                return Reply(400, {"type": "error", "error": {"message": f"{field} is required"}})
        key = (req.match["repo"], req.match["commit"], req.match["report"])
        self.reports[key] = {"uuid": f"{{report-{req.match['report']}}}", **body}
        return Reply(200, self.reports[key])

    def _annotate(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        key = (req.match["repo"], req.match["commit"], req.match["report"])
        if key not in self.reports:
            return Reply(404, {"type": "error", "error": {"message": "Report not found"}})
        body = req.json()
        items = body if isinstance(body, list) else [body]
        stored = self.annotations.setdefault(key, {})
        for item in items:
            if not item.get("external_id") or not item.get("annotation_type"):
                return Reply(400, {"type": "error", "error": {"message": "external_id required"}})
            stored[item["external_id"]] = item
        return Reply(200, items)
