"""A local server speaking the GitHub REST endpoints github_status writes to.

* ``POST /repos/{owner}/{repo}/statuses/{sha}`` creates a status (every POST is
  one more status: GitHub keeps up to 1,000 per commit and context);
* ``GET /repos/{owner}/{repo}/commits/{ref}/statuses`` lists them newest first;
* ``POST /repos/{owner}/{repo}/check-runs`` creates a check run (``external_id``
  kept), ``PATCH .../check-runs/{id}`` updates it, and
  ``GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=`` lists them;
* every call needs ``Authorization: Bearer <TOKEN>`` (401 ``Bad credentials``).

Committed creates: ``server.committed("status")`` and ``server.committed("check_run")``.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.fakehttp import FakeServer, Reply

TOKEN = "gh-test-token-not-real"
REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"


class GitHubFake(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}


def github_server() -> GitHubFake:
    fake = GitHubFake()
    ids = itertools.count(1)

    def denied(req: Any) -> Reply | None:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "Bad credentials"})
        return None

    @fake.route("POST", r"/app/installations/(?P<id>\d+)/access_tokens")
    def installation_token(req: Any) -> Reply:
        if not req.headers.get("authorization", "").startswith("Bearer ey"):
            return Reply(401, {"message": "A JSON web token could not be decoded"})
        return Reply(201, {"token": TOKEN, "expires_at": "2999-01-01T00:00:00Z"})

    @fake.route("POST", REPO + r"/statuses/(?P<sha>[0-9a-f]{40})")
    def create_status(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        body = req.json()
        if body.get("state") not in ("error", "failure", "pending", "success"):
            return Reply(422, {"message": "Validation Failed"})
        status = {"id": next(ids), **body}
        key = (req.match.group("repo"), req.match.group("sha"))
        fake.statuses.setdefault(key, []).insert(0, status)
        fake.commit("status", repo=key[0], sha=key[1], **body)
        return Reply(201, status)

    @fake.route("GET", REPO + r"/commits/(?P<sha>[0-9a-f]{40})/statuses")
    def list_statuses(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        key = (req.match.group("repo"), req.match.group("sha"))
        return Reply(200, fake.statuses.get(key, [])[:100])

    @fake.route("POST", REPO + r"/check-runs")
    def create_check_run(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        body = req.json()
        run = {"id": next(ids), "repo": req.match.group("repo"), **body}
        fake.check_runs[run["id"]] = run
        fake.commit("check_run", id=run["id"], name=body.get("name"), sha=body.get("head_sha"))
        return Reply(201, run)

    @fake.route("PATCH", REPO + r"/check-runs/(?P<id>\d+)")
    def update_check_run(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        run = fake.check_runs.get(int(req.match.group("id")))
        if run is None:
            return Reply(404, {"message": "Not Found"})
        run.update({k: v for k, v in req.json().items() if k != "external_id" or v})
        return Reply(200, run)

    @fake.route("GET", REPO + r"/commits/(?P<sha>[0-9a-f]{40})/check-runs")
    def list_check_runs(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        name = (req.query.get("check_name") or [None])[0]
        runs = [
            r
            for r in fake.check_runs.values()
            if r["repo"] == req.match.group("repo")
            and r.get("head_sha") == req.match.group("sha")
            and (name is None or r.get("name") == name)
        ]
        return Reply(200, {"total_count": len(runs), "check_runs": runs})

    return fake
