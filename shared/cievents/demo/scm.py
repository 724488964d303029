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

__all__ = ["GitHubStandIn", "PullRequestStandIn"]

_PULL = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)(?P<rest>/reviews|/commits)?$")
_COMMENTS = re.compile(r"^/repos/[^/]+/[^/]+/issues/\d+/comments$")


class _LoopbackServer:
    """A GET-only loopback server answering ``respond(path with query, Accept)``."""

    _server: ThreadingHTTPServer | None = None

    def respond(self, path: str, accept: str) -> tuple[int, bytes, str]:
        raise NotImplementedError

    def respond_post(self, path: str) -> tuple[int, bytes, str]:
        return 404, b'{"message": "the demo serves reads only"}', "application/json"

    def serve(self) -> int:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                status, data, ctype = stand_in.respond(self.path, self.headers.get("Accept", ""))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, data, ctype = stand_in.respond_post(self.path)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
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


class GitHubStandIn(_LoopbackServer):
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

    def respond(self, path: str, accept: str) -> tuple[int, bytes, str]:
        status, body = self.answer(urlsplit(path).path)
        return status, json.dumps(body).encode(), "application/json"


class PullRequestStandIn(_LoopbackServer):
    """GitHub, GitLab, Bitbucket and Azure Repos answering secret_scan's PR reads in the demo.

    Each example PR webhook NAME has NAME.pr.json: the pull request after that event
    (``source``, ``repository``, ``number``, ``head``, ``files``: path → [before, after]).
    As with ``GitHubStandIn``, a delivery of event N means events 1…N happened, so each PR
    is served as of the latest of its events delivered so far: its head, and its diff in
    the vendor's shape (a unified diff, GitLab's per-file hunks, Azure's iteration changes
    and blobs). The demo runs dry, so comments are served from the outbox: the vendor would
    have stored what the function recorded there, and the next scan edits that comment
    (the outbox shows one POST, then edits). Other paths go to ``fallback`` (the CI-log
    stand-in, which shares the API URLs).
    """

    def __init__(self, states: Mapping[str, Mapping[str, Any]], outbox: Any, fallback: str) -> None:
        self.states = dict(sorted(states.items()))
        self.outbox = outbox
        self.fallback = fallback.rstrip("/")
        self.cutoff = ""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def concerns(self, name: str) -> bool:
        return name in self.states

    def delivered(self, name: str) -> None:
        with self._lock:
            self.cutoff = max(self.cutoff, name)

    def _pr(self, source: str, repository: str, number: int) -> Mapping[str, Any] | None:
        with self._lock:
            cutoff = self.cutoff
        found = None
        for name, state in self.states.items():
            if name > cutoff:
                break
            if (state["source"], state["repository"], int(state["number"])) == (
                source,
                repository,
                number,
            ):
                found = state
        return found

    def _diff(self, state: Mapping[str, Any], headers: bool = True) -> str:
        import difflib

        out = []
        for path, (before, after) in dict(state["files"]).items():
            lines = difflib.unified_diff(
                str(before).splitlines(True), str(after).splitlines(True), f"a/{path}", f"b/{path}"
            )
            text = "".join(lines)
            out.append(f"diff --git a/{path} b/{path}\n{text}" if headers else text)
        return "".join(out)

    def _comments(self, sink: str, create: str, edit: str) -> list[dict[str, Any]]:
        """The comments recorded in the outbox: POSTs to a URL matching ``create`` make one
        (its id: the line number), PATCH/PUTs to ``edit`` with ``{id}`` change its text."""
        comments: dict[int, dict[str, Any]] = {}
        for index, entry in enumerate(self.outbox.read(sink), start=1):
            url, body = str(entry.get("url", "")).split("?")[0], entry.get("body") or {}
            text = _text_of(body)
            if entry.get("method") == "POST" and re.search(create + r"$", url) and text:
                comments[index] = {"id": index, "text": text}
            match = re.search(edit + r"$", url)
            if entry.get("method") in ("PATCH", "PUT") and match and text:
                cid = int(match.group("id"))
                if cid in comments:
                    comments[cid]["text"] = text
        return list(comments.values())

    def answer(self, path: str, accept: str) -> tuple[int, Any] | None:
        """(status, JSON or text) for a PR path, or None for a path this stand-in does not own."""
        for pattern, handler in (
            (r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)", self._github_pull),
            (r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/comments", self._github_comments),
            (  # secret_scan's CI-log write-backs look for their own earlier notes first
                r"/projects/[^/]+/repository/commits/[0-9a-f]+/discussions",
                lambda m, a: (200, []),
            ),
            (
                r"/repos/[^/]+/[^/]+/commits/[0-9a-f]+/check-runs",
                lambda m, a: (200, {"check_runs": []}),
            ),
            (
                r"/projects/(?P<repo>[^/]+)/merge_requests/(?P<n>\d+)(?P<rest>/diffs|/notes|/discussions)?",
                self._gitlab,
            ),
            (
                r"/repositories/(?P<repo>[^/]+/[^/]+)/pullrequests/(?P<n>\d+)(?P<rest>/diff|/comments)?",
                self._bitbucket,
            ),
            (
                r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/git/repositories/(?P<name>[^/]+)/(?P<rest>.+)",
                self._azure,
            ),
        ):
            match = re.fullmatch(pattern, path)
            if match:
                return handler(match, accept)
        return None

    def _github_pull(self, m: re.Match[str], accept: str) -> tuple[int, Any]:
        state = self._pr("github", m["repo"], int(m["n"]))
        if state is None:
            return 404, {"message": "Not Found"}
        if "diff" in accept:
            return 200, self._diff(state)
        return 200, {"number": int(m["n"]), "state": "open", "head": {"sha": state["head"]}}

    def _github_comments(self, m: re.Match[str], accept: str) -> tuple[int, Any]:
        found = self._comments(
            "github",
            rf"/repos/{re.escape(m['repo'])}/issues/{m['n']}/comments",
            r"/issues/comments/(?P<id>\d+)",
        )
        return 200, [{"id": c["id"], "body": c["text"]} for c in found]

    def _gitlab(self, m: re.Match[str], accept: str) -> tuple[int, Any]:
        from urllib.parse import unquote

        repo, n, rest = unquote(m["repo"]), int(m["n"]), m["rest"]
        state = self._pr("gitlab", repo, n)
        if state is None:
            return 404, {"message": "404 Not found"}
        if rest == "/diffs":
            return 200, [
                {
                    "new_path": p,
                    "old_path": p,
                    "diff": self._diff({"files": {p: f}}, False).split("\n", 2)[2],
                }
                for p, f in dict(state["files"]).items()
            ]
        if rest == "/discussions":
            return 200, []
        if rest == "/notes":
            mr = rf"/merge_requests/{n}"
            found = self._comments("gitlab", mr + "/notes", mr + r"/notes/(?P<id>\d+)")
            return 200, [{"id": c["id"], "body": c["text"], "system": False} for c in found]
        head = state["head"]
        return 200, {"iid": n, "sha": head, "state": "opened", "diff_refs": {"head_sha": head}}

    def _bitbucket(self, m: re.Match[str], accept: str) -> tuple[int, Any]:
        repo, n, rest = m["repo"], int(m["n"]), m["rest"]
        state = self._pr("bitbucket", repo, n)
        if state is None:
            return 404, {"type": "error"}
        if rest == "/diff":
            return 200, self._diff(state)
        if rest == "/comments":
            pr = rf"/pullrequests/{n}"
            found = self._comments("bitbucket", pr + "/comments", pr + r"/comments/(?P<id>\d+)")
            return 200, {"values": [{"id": c["id"], "content": {"raw": c["text"]}} for c in found]}
        return 200, {"id": n, "state": "OPEN", "source": {"commit": {"hash": state["head"][:12]}}}

    def _azure(self, m: re.Match[str], accept: str) -> tuple[int, Any]:
        from urllib.parse import unquote

        rest = m["rest"]
        if rest.startswith("blobs/"):
            return 200, _BLOBS.get(rest.removeprefix("blobs/"), "")
        pr = re.fullmatch(r"pullRequests/(?P<n>\d+)(?P<tail>/.*)?", rest)
        if not pr:
            return 404, {"message": "not served by the demo"}
        repo = "/".join(unquote(m[k]) for k in ("org", "project", "name"))
        n, tail = int(pr["n"]), pr["tail"] or ""
        state = self._pr("azure-devops", repo, n)
        if state is None:
            return 404, {"message": "TF401180: The requested pull request was not found."}
        if tail == "/iterations":
            return 200, {"value": [{"id": 1, "sourceRefCommit": {"commitId": state["head"]}}]}
        if tail.startswith("/iterations/"):
            entries = []
            for path, (before, after) in dict(state["files"]).items():
                old, new = _blob(str(before)), _blob(str(after))
                item = {"path": f"/{path}", "objectId": new, "originalObjectId": old}
                entries.append({"changeType": "edit", "item": item})
            return 200, {"changeEntries": entries}
        if tail == "/threads":
            thread = rf"/pullRequests/{n}/threads"
            found = self._comments("azure-devops", thread, thread + r"/(?P<id>\d+)/comments/\d+")
            return 200, {
                "value": [
                    {"id": c["id"], "comments": [{"id": 1, "content": c["text"]}]} for c in found
                ]
            }
        return 200, {
            "pullRequestId": n,
            "status": "active",
            "lastMergeSourceCommit": {"commitId": state["head"]},
        }

    def respond_post(self, path: str) -> tuple[int, bytes, str]:
        """The demo's GitHub App: any installation gets a token (reads are served here)."""
        if re.fullmatch(r"/app/installations/\d+/access_tokens", urlsplit(path).path):
            token = {"token": "local-demo-installation", "expires_at": "2999-01-01T00:00:00Z"}
            return 201, json.dumps(token).encode(), "application/json"
        return super().respond_post(path)

    def respond(self, path: str, accept: str) -> tuple[int, bytes, str]:
        answer = self.answer(urlsplit(path).path, accept)
        if answer is None:  # the CI-log stand-in's
            import requests

            upstream = requests.get(self.fallback + path, timeout=10)
            return (
                upstream.status_code,
                upstream.content,
                upstream.headers.get("Content-Type", "text/plain"),
            )
        status, body = answer
        if isinstance(body, str):
            return status, body.encode(), "text/plain"
        return status, json.dumps(body).encode(), "application/json"


_BLOBS: dict[str, str] = {}


def _blob(text: str) -> str:
    import hashlib

    object_id = hashlib.sha1(f"blob {len(text.encode())}\0{text}".encode()).hexdigest()  # noqa: S324
    _BLOBS[object_id] = text
    return object_id


def _text_of(body: Any) -> str:
    """A comment's text in a recorded request: GitHub/GitLab ``body``, Bitbucket
    ``content.raw``, Azure ``content`` or a new thread's first comment."""
    if not isinstance(body, Mapping):
        return ""
    if isinstance(body.get("body"), str):
        return str(body["body"])
    content = body.get("content")
    if isinstance(content, Mapping):
        return str(content.get("raw") or "")
    if isinstance(content, str):
        return content
    comments = body.get("comments")
    if isinstance(comments, list) and comments and isinstance(comments[0], Mapping):
        return str(comments[0].get("content") or "")
    return ""
