"""A local server speaking GitLab's commit status API (``/api/v4``).

``POST /projects/:id/statuses/:sha`` creates a status (``PRIVATE-TOKEN`` header
required, 401 otherwise); ``GET /projects/:id/repository/commits/:sha/statuses``
lists them (``name`` filter). Committed creates: ``server.committed("status")``.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import unquote

from tests.support.fakehttp import FakeServer, Reply

TOKEN = "glpat-test-token-not-real"
STATES = {"pending", "running", "success", "failed", "canceled", "skipped"}


def gitlab_server() -> FakeServer:
    fake = FakeServer()
    ids = itertools.count(1)
    statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def denied(req: Any) -> Reply | None:
        if req.headers.get("private-token") != TOKEN:
            return Reply(401, {"message": "401 Unauthorized"})
        return None

    @fake.route("POST", r"/api/v4/projects/(?P<project>[^/]+)/statuses/(?P<sha>[0-9a-f]{40})")
    def create(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        body = req.json()
        if body.get("state") not in STATES:
            return Reply(400, {"message": "state is invalid"})
        key = (unquote(req.match.group("project")), req.match.group("sha"))
        status = {
            "id": next(ids),
            "sha": key[1],
            "status": body["state"],
            "name": body.get("name", "default"),
            "description": body.get("description"),
            "target_url": body.get("target_url"),
        }
        statuses.setdefault(key, []).append(status)
        fake.commit("status", project=key[0], sha=key[1], name=status["name"])
        return Reply(201, status)

    @fake.route(
        "GET",
        r"/api/v4/projects/(?P<project>[^/]+)/repository/commits/(?P<sha>[0-9a-f]{40})/statuses",
    )
    def listing(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        key = (unquote(req.match.group("project")), req.match.group("sha"))
        name = (req.query.get("name") or [None])[0]
        return Reply(200, [s for s in statuses.get(key, []) if name in (None, s["name"])])

    return fake
