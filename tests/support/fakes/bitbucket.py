"""A local server speaking Bitbucket Cloud's commit build status API (``/2.0``).

``POST /repositories/{workspace}/{repo}/commit/{sha}/statuses/build`` creates the
status with its ``key``, or overwrites the one with the same key (as Bitbucket
documents); ``GET .../statuses/build/{key}`` reads it. Bearer token required.
``server.committed("status")`` counts distinct (commit, key) statuses created.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tests.support.fakehttp import FakeServer, Reply

TOKEN = "bb-test-token-not-real"
REPO = r"/2.0/repositories/(?P<repo>[^/]+/[^/]+)/commit/(?P<sha>[0-9a-f]{40})/statuses/build"
STATES = {"INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"}


def bitbucket_server() -> FakeServer:
    fake = FakeServer()
    statuses: dict[tuple[str, str, str], dict[str, Any]] = {}

    def denied(req: Any) -> Reply | None:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"type": "error", "error": {"message": "Unauthorized"}})
        return None

    @fake.route("POST", REPO)
    def create(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        body = req.json()
        if body.get("state") not in STATES or not body.get("key"):
            return Reply(400, {"type": "error", "error": {"message": "bad status"}})
        key = (req.match.group("repo"), req.match.group("sha"), str(body["key"]))
        new = key not in statuses
        if new:
            fake.commit("status", repo=key[0], sha=key[1], key=key[2])
        statuses[key] = {"type": "commitstatus", **body}
        return Reply(201 if new else 200, statuses[key])

    @fake.route("GET", REPO + r"/(?P<key>[^/]+)")
    def read(req: Any) -> Reply:
        if (refused := denied(req)) is not None:
            return refused
        key = (req.match.group("repo"), req.match.group("sha"), unquote(req.match.group("key")))
        found = statuses.get(key)
        return Reply(200, found) if found else Reply(404, {"type": "error"})

    return fake
