"""A stand-in for the GitHub REST API that answers from the webhooks the demo has sent.

pr_compliance computes a verdict from the pull request's *current* state, read from the
SCM. In the demo there is no GitHub, so this server folds the example events into that
state: the pull request from ``pull_request`` events, its reviews from
``pull_request_review`` events, its commits from ``push`` events to its branch. Events
happen in the order of their names; a delivery of event N means events 1…N happened
(deliveries may be late or shuffled, the SCM is not), so the state is always that of the
latest event delivered so far. Writes are not served: the demo runs dry, and every
comment and status lands in the outbox.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["GitHubStandIn"]

_PULL = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)(?P<rest>/reviews|/commits)?$")
_COMMENTS = re.compile(r"^/repos/[^/]+/[^/]+/issues/\d+/comments$")


class GitHubStandIn:
    def __init__(self, events: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """``events``: (name, X-GitHub-Event, body) of every GitHub example, any order."""
        self.events = sorted(events, key=lambda e: e[0])
        self.cutoff = ""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def concerns(self, name: str) -> bool:
        """Whether event ``name`` changes a pull request this stand-in serves."""
        return any(
            e[0] == name and e[1] in ("pull_request", "pull_request_review") for e in self.events
        )

    def delivered(self, name: str) -> None:
        """The demo posted event ``name``: everything up to it has happened."""
        with self._lock:
            self.cutoff = max(self.cutoff, name)

    def _happened(self) -> list[tuple[str, str, Mapping[str, Any]]]:
        with self._lock:
            return [e for e in self.events if e[0] <= self.cutoff]

    def answer(self, path: str) -> tuple[int, Any]:
        if _COMMENTS.match(path):
            return 200, []
        match = _PULL.match(path)
        if not match:
            return 404, {"message": "Not Found (the demo's GitHub serves pull requests only)"}
        repo, number, rest = match["repo"], int(match["n"]), match["rest"]
        pull: dict[str, Any] | None = None
        reviews: list[dict[str, Any]] = []
        for _, kind, body in self._happened():
            if dict(body.get("repository") or {}).get("full_name") != repo:
                continue
            pr = body.get("pull_request")
            if isinstance(pr, Mapping) and pr.get("number") == number:
                pull = {
                    **dict(pr),
                    "base": {**dict(pr.get("base") or {}), "repo": {"full_name": repo}},
                }
                if kind == "pull_request_review" and isinstance(body.get("review"), Mapping):
                    review = dict(body["review"])
                    # Webhooks spell review states in lower case, the REST API in upper case.
                    reviews.append({**review, "state": str(review.get("state", "")).upper()})
        if pull is None:
            return 404, {"message": "Not Found"}
        if rest == "/reviews":
            return 200, reviews
        if rest == "/commits":
            return 200, self._commits(repo, str((pull.get("head") or {}).get("ref") or ""))
        return 200, pull

    def _commits(self, repo: str, branch: str) -> list[dict[str, Any]]:
        commits = []
        for _, kind, body in self._happened():
            if kind != "push" or body.get("ref") != f"refs/heads/{branch}":
                continue
            if dict(body.get("repository") or {}).get("full_name") != repo:
                continue
            parent = body.get("before")
            for c in body.get("commits") or []:
                commits.append(
                    {
                        "sha": c["id"],
                        "parents": [{"sha": parent}],
                        "commit": {
                            "message": c.get("message"),
                            "committer": {"date": c.get("timestamp")},
                        },
                    }
                )
                parent = c["id"]
        return commits

    def serve(self) -> int:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                status, body = stand_in.answer(urlsplit(self.path).path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
