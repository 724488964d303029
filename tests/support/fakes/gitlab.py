"""A loopback GitLab REST API (``/api/v4``): pipeline jobs, job traces, commit and MR notes.

Shapes follow https://docs.gitlab.com/ee/api/jobs.html (``GET
/projects/:id/pipelines/:pipeline_id/jobs``, paginated by ``per_page``/``page``
with ``X-Next-Page``/``X-Total-Pages``; ``GET /projects/:id/jobs/:job_id/trace``,
plain text, ``404`` once erased), https://docs.gitlab.com/ee/api/commits.html
(commit comments) and https://docs.gitlab.com/ee/api/notes.html (MR notes, updated
with ``PUT``). Authentication is the ``PRIVATE-TOKEN`` header.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import unquote

from tests.support.fakehttp import FakeServer, Reply, Request

PROJECT = r"/api/v4/projects/(?P<project>[^/]+)"


class FakeGitLab(FakeServer):
    def __init__(self, token: str = "gl-test-token") -> None:
        super().__init__()
        self.token = token
        self.pipelines: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.traces: dict[int, bytes] = {}
        self.commit_comments: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.mr_notes: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._ids = itertools.count(500)
        self.route("GET", PROJECT + r"/pipelines/(?P<pipeline>\d+)/jobs")(self._jobs)
        self.route("GET", PROJECT + r"/jobs/(?P<job>\d+)/trace")(self._trace)
        self.route("GET", PROJECT + r"/repository/commits/(?P<sha>\w+)/comments")(self._comments)
        self.route("POST", PROJECT + r"/repository/commits/(?P<sha>\w+)/comments")(self._comment)
        self.route("GET", PROJECT + r"/merge_requests/(?P<iid>\d+)/notes")(self._notes)
        self.route("POST", PROJECT + r"/merge_requests/(?P<iid>\d+)/notes")(self._note)
        self.route("PUT", PROJECT + r"/merge_requests/(?P<iid>\d+)/notes/(?P<id>\d+)")(
            self._edit_note
        )

    def _denied(self, req: Request) -> Reply | None:
        if req.headers.get("private-token") != self.token:
            return Reply(401, {"message": "401 Unauthorized"})
        return None

    @staticmethod
    def _project(req: Request) -> str:
        assert req.match is not None
        return unquote(req.match["project"])

    def _jobs(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        jobs = self.pipelines.get((self._project(req), int(req.match["pipeline"])))
        if jobs is None:
            return Reply(404, {"message": "404 Pipeline Not Found"})
        per_page = min(int(req.query.get("per_page", ["20"])[0]), 100)
        page = int(req.query.get("page", ["1"])[0])
        pages = max(1, -(-len(jobs) // per_page))
        headers = {"X-Total": str(len(jobs)), "X-Total-Pages": str(pages), "X-Page": str(page)}
        headers["X-Next-Page"] = str(page + 1) if page < pages else ""
        return Reply(200, jobs[(page - 1) * per_page : page * per_page], headers)

    def _trace(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        trace = self.traces.get(int(req.match["job"]))
        if trace is None:
            return Reply(404, {"message": "404 Not Found"})
        return Reply(200, raw=trace, headers={"Content-Type": "text/plain"})

    def _comments(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        return Reply(200, self.commit_comments.get((self._project(req), req.match["sha"]), []))

    def _comment(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        body = req.data()
        if not body.get("note"):
            return Reply(400, {"message": "400 Bad request - note is missing"})
        comment = {"note": body["note"], "author": {"username": "cievents-bot"}}
        self.commit_comments.setdefault((self._project(req), req.match["sha"]), []).append(comment)
        return Reply(201, comment)

    def _notes(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        return Reply(200, self.mr_notes.get((self._project(req), int(req.match["iid"])), []))

    def _note(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        body = req.data()
        if not body.get("body"):
            return Reply(400, {"message": "400 Bad request - body is missing"})
        note = {"id": next(self._ids), "body": body["body"], "system": False}
        self.mr_notes.setdefault((self._project(req), int(req.match["iid"])), []).append(note)
        return Reply(201, note)

    def _edit_note(self, req: Request) -> Reply:
        assert req.match is not None
        if denied := self._denied(req):
            return denied
        for note in self.mr_notes.get((self._project(req), int(req.match["iid"])), []):
            if note["id"] == int(req.match["id"]):
                note["body"] = req.data()["body"]
                return Reply(200, note)
        return Reply(404, {"message": "404 Note Not Found"})
