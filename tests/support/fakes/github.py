"""A loopback GitHub REST API: pull requests and their diffs, issue comments, commit statuses,
check runs, and App installation tokens.

Shapes from https://docs.github.com/en/rest: ``GET /repos/{o}/{r}/pulls/{n}`` (JSON, or the
unified diff with ``Accept: application/vnd.github.diff``; 406 when the diff is too large),
``/pulls/{n}/files``, ``/issues/{n}/comments`` (``Link`` pagination), ``PATCH
/issues/comments/{id}``, ``POST /statuses/{sha}``, ``POST /check-runs`` and ``PATCH
/check-runs/{id}`` (annotations appended, 50 at most per request), ``GET
/commits/{sha}/check-runs``, ``POST /app/installations/{id}/access_tokens`` (with the
installation's ``permissions``), ``GET /user`` (``X-OAuth-Scopes`` for a classic token). A
check run keeps the ``external_id`` it was created with.

Secondary rate limit: with ``writes_per_window``, content-creating requests (every
POST/PATCH/PUT/DELETE but App token exchanges) beyond that many in any ``window_s`` seconds
are refused as GitHub refuses them: 403 with "You have exceeded a secondary rate limit"
and ``retry-after`` saying when the oldest write leaves the window (whole seconds, or
tenths when the window is under a minute, for benchmarks that scale time). Refusals are
counted in ``refused``; every accepted status carries ``at``, the moment it was accepted.

Tokens: ``tokens`` are personal/deploy tokens (no check runs: 403, as GitHub answers a
token that is not an App's); ``app_tokens`` are installation tokens (check runs allowed).

Actions (https://docs.github.com/rest/actions/workflow-jobs): ``GET .../actions/runs/{id}/jobs``
(``{"total_count", "jobs"}``, ``Link`` pages), ``GET .../actions/jobs/{id}/logs`` and ``GET
.../actions/runs/{id}/logs`` answer ``302`` to a download URL (``/_blobs/...`` here) serving
the text or the zip; logs that are gone answer ``410``.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.fakehttp import FakeServer, Reply, Request
from tests.support.fakes import link_paged

__all__ = ["AuditedRepo", "FakeGitHub", "PullRequestState"]

REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"
SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class PullRequestState:
    head_sha: str
    diff: str
    base_sha: str = "0" * 40
    state: str = "open"
    too_large: bool = False
    files: list[dict[str, Any]] = field(default_factory=list)
    # What compliance reads: the rest of the PR object (e.g. a webhook fixture's
    # ``pull_request``, which is the REST object), its reviews and commits.
    api: dict[str, Any] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)


class FakeGitHub(FakeServer):
    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = (),
        app_tokens: tuple[str, ...] = (),
        app_key: Any = None,
        installation: str = "77",
        page_size: int = 100,
        token_scopes: str = "repo",
        app_permissions: dict[str, str] | None = None,
        writes_per_window: int | None = None,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.writes_per_window, self.window_s, self.clock = writes_per_window, window_s, clock
        self.refused = 0
        self._writes: deque[float] = deque()
        self._pace = threading.Lock()
        self.tokens, self.app_tokens = set(tokens), set(app_tokens)
        self.token_scopes = token_scopes  # X-OAuth-Scopes of a classic token ("" fine-grained)
        self.app_permissions = app_permissions or {
            "checks": "write",
            "pull_requests": "write",
            "statuses": "write",
            "contents": "read",
            "metadata": "read",
        }
        self.app_key, self.installation = app_key, installation
        self.page_size = page_size
        self.pulls: dict[tuple[str, int], PullRequestState] = {}
        self.comments: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.check_runs: list[dict[str, Any]] = []
        self.teams: dict[str, list[str]] = {}  # "org/slug" → member logins
        self.contents: dict[tuple[str, str], str] = {}  # (repo, path) → file text
        self._ids = itertools.count(1000)
        self._routes_()
        self._read_routes_()
        # Actions: jobs by (repo, run id), job logs and run log archives (zip) by id.
        self.runs_jobs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.job_logs: dict[int, bytes] = {}
        self.run_archives: dict[int, bytes] = {}
        self._actions_routes_()
        self.audited: dict[str, AuditedRepo] = {}  # full name → what the audit reads
        self._audit_routes_()

    # -- helpers for tests -----------------------------------------------------------
    def review(self, repo: str, number: int, login: str, state: str, commit: str) -> None:
        """A review as GitHub lists it (``APPROVED``, ``CHANGES_REQUESTED``, ``DISMISSED``…)."""
        self.pulls[(repo, number)].reviews.append(
            {
                "id": next(self._ids),
                "user": {"login": login, "type": "User"},
                "body": "",
                "state": state,
                "commit_id": commit,
                "submitted_at": "2026-11-20T10:00:00Z",
                "author_association": "MEMBER",
            }
        )

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments if c["repo"] == repo and c["number"] == number]

    def latest_status(self, repo: str, sha: str, context: str) -> dict[str, Any] | None:
        found = [
            s for s in self.statuses if (s["repo"], s["sha"], s["context"]) == (repo, sha, context)
        ]
        return found[-1] if found else None

    def runs(self, repo: str, sha: str, name: str) -> list[dict[str, Any]]:
        return [
            r for r in self.check_runs if (r["repo"], r["head_sha"], r["name"]) == (repo, sha, name)
        ]

    # -- secondary rate limit ----------------------------------------------------------
    def _dispatch(self, request: Request) -> Reply:
        if request.method in WRITES and not request.path.startswith("/app/"):
            refused = self._limited()
            if refused is not None:
                with self._lock:
                    self.requests.append(request)
                return refused
        return super()._dispatch(request)

    def _limited(self) -> Reply | None:
        if self.writes_per_window is None:
            return None
        with self._pace:
            now = self.clock()
            while self._writes and self._writes[0] <= now - self.window_s:
                self._writes.popleft()
            if len(self._writes) < self.writes_per_window:
                self._writes.append(now)
                return None
            self.refused += 1
            wait = self._writes[0] + self.window_s - now
        seconds = math.ceil(wait) if self.window_s >= 60 else math.ceil(wait * 10) / 10
        return Reply(
            403,
            {
                "message": SECONDARY_LIMIT,
                "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api",
            },
            {"retry-after": str(seconds)},
        )

    # -- auth ------------------------------------------------------------------------
    def _who(self, req: Request) -> str | None:
        auth = req.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").removeprefix("token ")
        if token in self.app_tokens:
            return "app"
        if token in self.tokens:
            return "token"
        return None

    def _routes_(self) -> None:
        route = self.route

        def unauthorized() -> Reply:
            return Reply(401, {"message": "Bad credentials"})

        @route("POST", r"/app/installations/(?P<id>\d+)/access_tokens")
        def access_token(req: Request) -> Reply:
            import jwt

            if self.app_key is None or req.match is None:
                return unauthorized()
            try:
                claims = jwt.decode(
                    req.headers["authorization"].removeprefix("Bearer "),
                    self.app_key.public_key(),
                    algorithms=["RS256"],
                )
            except jwt.PyJWTError:
                return unauthorized()
            if claims["exp"] - claims["iat"] > 600 or req.match.group("id") != self.installation:
                return Reply(404, {"message": "Not Found"})
            token = f"ghs_{next(self._ids)}installation"
            self.app_tokens.add(token)
            return Reply(
                201,
                {
                    "token": token,
                    "expires_at": "2999-01-01T00:00:00Z",
                    "permissions": self.app_permissions,
                    "repository_selection": "all",
                },
            )

        @route("GET", r"/user")
        def user(req: Request) -> Reply:
            who = self._who(req)
            if who != "token":
                return unauthorized() if who is None else Reply(403, {"message": "Forbidden"})
            headers = {"X-OAuth-Scopes": self.token_scopes} if self.token_scopes else {}
            return Reply(200, {"login": "ci-bot", "type": "User"}, headers=headers)

        @route("GET", REPO + r"/pulls/(?P<n>\d+)")
        def pull(req: Request) -> Reply:
            if self._who(req) is None:
                return unauthorized()
            assert req.match is not None
            pr = self.pulls.get((req.match.group("repo"), int(req.match.group("n"))))
            if pr is None:
                return Reply(404, {"message": "Not Found"})
            if "diff" in req.headers.get("accept", ""):
                if pr.too_large:
                    return Reply(
                        406,
                        {"message": "Sorry, the diff exceeded the maximum number of lines (20000)"},
                    )
                return Reply(200, pr.diff, headers={"Content-Type": "text/plain; charset=utf-8"})
            return Reply(
                200,
                {
                    **pr.api,
                    "number": int(req.match.group("n")),
                    "state": pr.state,
                    "head": {**pr.api.get("head", {}), "sha": pr.head_sha},
                    "base": {**pr.api.get("base", {}), "sha": pr.base_sha},
                },
            )

        @route("GET", REPO + r"/pulls/(?P<n>\d+)/files")
        def files(req: Request) -> Reply:
            if self._who(req) is None:
                return unauthorized()
            assert req.match is not None
            pr = self.pulls[(req.match.group("repo"), int(req.match.group("n")))]
            return link_paged(req, pr.files, self.page_size)

        @route("GET", REPO + r"/issues/(?P<n>\d+)/comments")
        def list_comments(req: Request) -> Reply:
            if self._who(req) is None:
                return unauthorized()
            assert req.match is not None
            found = self.comments_on(req.match.group("repo"), int(req.match.group("n")))
            return link_paged(
                req, [{"id": c["id"], "body": c["body"]} for c in found], self.page_size
            )

        @route("POST", REPO + r"/issues/(?P<n>\d+)/comments")
        def add_comment(req: Request) -> Reply:
            if self._who(req) is None:
                return unauthorized()
            assert req.match is not None
            comment = {
                "id": next(self._ids),
                "repo": req.match.group("repo"),
                "number": int(req.match.group("n")),
                "body": req.json()["body"],
            }
            self.comments.append(comment)
            return Reply(201, {"id": comment["id"], "body": comment["body"]})

        @route("PATCH", REPO + r"/issues/comments/(?P<id>\d+)")
        def edit_comment(req: Request) -> Reply:
            if self._who(req) is None:
                return unauthorized()
            assert req.match is not None
            for c in self.comments:
                if c["id"] == int(req.match.group("id")):
                    c["body"] = req.json()["body"]
                    c["edits"] = c.get("edits", 0) + 1
                    return Reply(200, {"id": c["id"], "body": c["body"]})
            return Reply(404, {"message": "Not Found"})

        @route("POST", REPO + r"/statuses/(?P<sha>[0-9a-f]{40})")
        def status(req: Request) -> Reply:
            if self._who(req) is None:
                return unauthorized()
            assert req.match is not None
            body = req.json()
            if body.get("state") not in ("error", "failure", "pending", "success"):
                return Reply(422, {"message": "Validation Failed"})
            self.statuses.append(
                {
                    "repo": req.match.group("repo"),
                    "sha": req.match.group("sha"),
                    **body,
                    "at": self.clock(),
                }
            )
            return Reply(201, {"id": len(self.statuses), **body})

        def check_allowed(req: Request) -> Reply | None:
            who = self._who(req)
            if who is None:
                return unauthorized()
            if who != "app":
                return Reply(403, {"message": "You must authenticate via a GitHub App."})
            return None

        def apply(run: dict[str, Any], body: dict[str, Any]) -> Reply | None:
            output = body.get("output") or {}
            notes = output.get("annotations") or []
            if len(notes) > 50:
                return Reply(422, {"message": "Only 50 annotations are allowed per request"})
            for key in ("name", "status", "conclusion", "details_url", "external_id"):
                if key in body:
                    run[key] = body[key]
            if output:
                run["output"].update(title=output.get("title"), summary=output.get("summary"))
            run["annotations"].extend(notes)
            run["output"]["annotations_count"] = len(run["annotations"])
            return None

        def public(run: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in run.items() if k not in ("repo", "annotations")}

        @route("POST", REPO + r"/check-runs")
        def create_run(req: Request) -> Reply:
            denied = check_allowed(req)
            if denied:
                return denied
            assert req.match is not None
            body = req.json()
            run: dict[str, Any] = {
                "id": next(self._ids),
                "repo": req.match.group("repo"),
                "head_sha": body["head_sha"],
                "name": body["name"],
                "output": {"annotations_count": 0},
                "annotations": [],
            }
            bad = apply(run, body)
            if bad:
                return bad
            self.check_runs.append(run)
            return Reply(201, public(run))

        @route("PATCH", REPO + r"/check-runs/(?P<id>\d+)")
        def update_run(req: Request) -> Reply:
            denied = check_allowed(req)
            if denied:
                return denied
            assert req.match is not None
            for run in self.check_runs:
                if run["id"] == int(req.match.group("id")):
                    bad = apply(run, req.json())
                    return bad or Reply(200, public(run))
            return Reply(404, {"message": "Not Found"})

        @route("GET", REPO + r"/commits/(?P<sha>[0-9a-f]{40})/check-runs")
        def list_runs(req: Request) -> Reply:
            if self._who(req) is None:
                return unauthorized()
            assert req.match is not None
            name = (req.query.get("check_name") or [None])[0]
            runs = [
                public(r)
                for r in reversed(self.check_runs)
                if r["repo"] == req.match.group("repo")
                and r["head_sha"] == req.match.group("sha")
                and (name is None or r["name"] == name)
            ]
            page = link_paged(req, runs, self.page_size)
            return Reply(200, {"total_count": len(runs), "check_runs": page.body}, page.headers)

    def _read_routes_(self) -> None:
        """Reads pr_compliance makes: reviews, commits, combined status, PRs of a commit,
        team members, repository contents (``Accept: application/vnd.github.raw``)."""
        route = self.route

        def allowed(req: Request) -> Reply | None:
            return None if self._who(req) else Reply(401, {"message": "Bad credentials"})

        def pull_of(req: Request) -> PullRequestState | None:
            assert req.match is not None
            return self.pulls.get((req.match.group("repo"), int(req.match.group("n"))))

        @route("GET", REPO + r"/pulls/(?P<n>\d+)/reviews")
        def reviews(req: Request) -> Reply:
            pr = pull_of(req)
            return allowed(req) or (
                link_paged(req, pr.reviews, self.page_size) if pr else Reply(404, {})
            )

        @route("GET", REPO + r"/pulls/(?P<n>\d+)/commits")
        def commits(req: Request) -> Reply:
            pr = pull_of(req)
            return allowed(req) or (
                link_paged(req, pr.commits[:250], self.page_size) if pr else Reply(404, {})
            )

        @route("GET", REPO + r"/commits/(?P<sha>[0-9a-f]{40})/status")
        def combined(req: Request) -> Reply:
            if bad := allowed(req):
                return bad
            assert req.match is not None
            latest: dict[str, dict[str, Any]] = {}
            for st in self.statuses:
                if (st["repo"], st["sha"]) == (req.match.group("repo"), req.match.group("sha")):
                    latest[st["context"]] = st
            statuses = [
                {"context": c, "state": st["state"], "description": st.get("description")}
                for c, st in latest.items()
            ]
            states = {st["state"] for st in statuses}
            state = (
                "failure"
                if states & {"failure", "error"}
                else "pending"
                if "pending" in states or not states
                else "success"
            )
            return Reply(
                200,
                {
                    "state": state,
                    "sha": req.match.group("sha"),
                    "statuses": statuses,
                    "total_count": len(statuses),
                },
            )

        @route("GET", REPO + r"/commits/(?P<sha>[0-9a-f]{40})/pulls")
        def pulls_of_commit(req: Request) -> Reply:
            if bad := allowed(req):
                return bad
            assert req.match is not None
            found = [
                {"number": n, "state": pr.state, "head": {"sha": pr.head_sha}}
                for (repo, n), pr in self.pulls.items()
                if repo == req.match.group("repo") and pr.head_sha == req.match.group("sha")
            ]
            return link_paged(req, found, self.page_size)

        @route("GET", r"/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/members")
        def members(req: Request) -> Reply:
            if bad := allowed(req):
                return bad
            assert req.match is not None
            team = self.teams.get(f"{req.match.group('org')}/{req.match.group('slug')}")
            if team is None:
                return Reply(404, {"message": "Not Found"})
            return link_paged(req, [{"login": m, "type": "User"} for m in team], self.page_size)

        @route("GET", REPO + r"/contents/(?P<path>.+)")
        def contents(req: Request) -> Reply:
            if bad := allowed(req):
                return bad
            assert req.match is not None
            text = self.contents.get((req.match.group("repo"), req.match.group("path")))
            if text is None:
                return Reply(404, {"message": "Not Found"})
            return Reply(200, text, headers={"Content-Type": "application/vnd.github.raw"})

    # -- Actions: workflow run jobs, job logs, run log archives ---------------------------
    def add_run(self, repo: str, run_id: int, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            job.setdefault("run_id", run_id)
            job.setdefault("status", "completed")
            job.setdefault("conclusion", "success")
            job.setdefault(
                "html_url", f"https://github.com/{repo}/actions/runs/{run_id}/job/{job['id']}"
            )
        self.runs_jobs[(repo, run_id)] = jobs

    def _actions_routes_(self) -> None:
        route = self.route

        def unauthorized(req: Request) -> Reply | None:
            return None if self._who(req) else Reply(401, {"message": "Bad credentials"})

        @route("GET", REPO + r"/actions/runs/(?P<run>\d+)/jobs")
        def run_jobs(req: Request) -> Reply:
            assert req.match is not None
            if bad := unauthorized(req):
                return bad
            jobs = self.runs_jobs.get((req.match["repo"], int(req.match["run"])))
            if jobs is None:
                return Reply(404, {"message": "Not Found"})
            page = link_paged(req, jobs, self.page_size)
            return Reply(200, {"total_count": len(jobs), "jobs": page.body}, page.headers)

        @route("GET", REPO + r"/actions/jobs/(?P<job>\d+)/logs")
        def job_log(req: Request) -> Reply:
            assert req.match is not None
            if bad := unauthorized(req):
                return bad
            job = int(req.match["job"])
            if job not in self.job_logs:
                return Reply(410, {"message": "Gone"})  # expired logs
            return Reply(302, headers={"Location": f"{self.url}/_blobs/job-logs/{job}.txt"})

        @route("GET", REPO + r"/actions/runs/(?P<run>\d+)/logs")
        def run_archive(req: Request) -> Reply:
            assert req.match is not None
            if bad := unauthorized(req):
                return bad
            run = int(req.match["run"])
            if run not in self.run_archives:
                return Reply(410, {"message": "Gone"})
            return Reply(302, headers={"Location": f"{self.url}/_blobs/run-logs/{run}.zip"})

        @route("GET", r"/_blobs/job-logs/(?P<job>\d+)\.txt")
        def blob_log(req: Request) -> Reply:
            assert req.match is not None
            return Reply(200, raw=self.job_logs[int(req.match["job"])])

        @route("GET", r"/_blobs/run-logs/(?P<run>\d+)\.zip")
        def blob_zip(req: Request) -> Reply:
            assert req.match is not None
            data = self.run_archives[int(req.match["run"])]
            return Reply(200, raw=data, headers={"Content-Type": "application/zip"})

    # -- repository audit: branch protection, rulesets, security_and_analysis, tarballs ---
    # (repo_inventory's posture audit and committed-content scan; listing routes are apart)
    def _audit_routes_(self) -> None:
        """``GET /repos/{r}`` (with ``security_and_analysis``), ``…/branches/{b}`` (head
        commit), ``…/branches/{b}/protection`` (404 "Branch not protected"),
        ``…/rules/branches/{b}`` (active ruleset rules, ``Link`` pages), and
        ``…/tarball/{ref}`` answering 302 to the archive (a gzipped tar whose one top
        folder is ``{owner}-{repo}-{sha7}``, as codeload serves it)."""
        route = self.route

        def audited(req: Request) -> tuple[AuditedRepo | None, Reply | None]:
            if self._who(req) is None:
                return None, Reply(401, {"message": "Bad credentials"})
            assert req.match is not None
            found = self.audited.get(req.match["repo"])
            return found, None if found else Reply(404, {"message": "Not Found"})

        @route("GET", REPO)
        def repository(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None:
                return bad or Reply(404)
            assert req.match is not None
            body: dict[str, Any] = {
                "id": found.id,
                "full_name": req.match["repo"],
                "default_branch": found.default_branch,
                "visibility": found.visibility,
                "private": found.visibility != "public",
            }
            if found.security_and_analysis is not None:
                body["security_and_analysis"] = found.security_and_analysis
            return Reply(200, body)

        @route("GET", REPO + r"/branches/(?P<branch>[^/]+)")
        def branch(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None or req.match is None or req.match["branch"] != found.default_branch:
                return bad or Reply(404, {"message": "Branch not found"})
            return Reply(200, {"name": found.default_branch, "commit": {"sha": found.head_sha}})

        @route("GET", REPO + r"/branches/(?P<branch>[^/]+)/protection")
        def protection(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None:
                return bad or Reply(404)
            if found.protection_forbidden:
                return Reply(403, {"message": "Resource not accessible by integration"})
            if found.protection is None:
                return Reply(404, {"message": "Branch not protected"})
            return Reply(200, found.protection)

        @route("GET", REPO + r"/rules/branches/(?P<branch>[^/]+)")
        def rules(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None:
                return bad or Reply(404)
            return link_paged(req, found.rules, self.page_size)

        @route("GET", REPO + r"/tarball/(?P<ref>[^/]+)")
        def tarball(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None or req.match is None:
                return bad or Reply(404)
            found.downloads += 1
            name = req.match["repo"].replace("/", "-")
            location = f"{self.url}/_blobs/tarball/{req.match['repo']}/{req.match['ref']}"
            return Reply(302, headers={"Location": location + f"?top={name}"})

        @route("GET", r"/_blobs/tarball/(?P<repo>[^/]+/[^/]+)/(?P<ref>[^/]+)")
        def tarball_blob(req: Request) -> Reply:
            assert req.match is not None
            found = self.audited[req.match["repo"]]
            top = f"{req.query['top'][0]}-{req.match['ref'][:7]}"
            archive = found.archive or tar_gz(found.files, top)
            return Reply(200, raw=archive, headers={"Content-Type": "application/x-gzip"})


@dataclass
class AuditedRepo:
    """One repository as the posture audit and the committed-content scan read it."""

    id: int = 1
    default_branch: str = "main"
    visibility: str = "private"
    head_sha: str = "a" * 40
    protection: dict[str, Any] | None = None  # classic branch protection; None: not protected
    protection_forbidden: bool = False  # 403 on the protection read (no admin permission)
    rules: list[dict[str, Any]] = field(default_factory=list)  # active rules for the branch
    security_and_analysis: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # the default branch's tree
    archive: bytes | None = None  # served as is instead of an archive of ``files``
    downloads: int = 0


def tar_gz(files: dict[str, bytes], top: str) -> bytes:
    """A gzipped tar of ``files`` under one top folder, as the SCMs' archive downloads are."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# -- repository listing (repo_inventory) -------------------------------------------------------
# ``GET /orgs/{org}/repos`` (``type``, ``sort=updated|pushed|full_name``, ``direction``),
# ``GET /user/repos``, ``GET /repositories/{id}``, ``GET /app/installations`` (App JWT) and
# ``GET /installation/repositories`` (``{"total_count", "repositories"}``, the fake App's
# one installation), all ``Link``-paged;
# every answer carries ``X-RateLimit-Limit/Remaining/Reset`` from ``fake.rate`` (a
# ``RateWindow``). ``fake.inventory`` maps a repository id to its REST object (its
# ``owner.login`` is the organization); ``fake.installation_repos`` maps an installation id
# to the repository ids it was granted.
@dataclass
class RateWindow:
    """A vendor's request budget: ``remaining`` of ``limit`` until ``reset`` (epoch seconds)."""

    limit: int = 5000
    remaining: int = 5000
    reset: float = 0.0

    def take(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset or time.time() + 3600)),
        }


def serve_repositories(fake: FakeGitHub) -> None:
    """Add the listing routes to ``fake`` (idempotent per fake)."""
    if getattr(fake, "inventory", None) is not None:
        return
    fake.inventory = {}  # type: ignore[attr-defined]
    fake.installation_repos = {}  # type: ignore[attr-defined]
    fake.rate = RateWindow()  # type: ignore[attr-defined]
    route = fake.route
    store: dict[int, dict[str, Any]] = fake.inventory  # type: ignore[attr-defined]

    def paged(req: Request, items: list[Any], wrap: str | None = None) -> Reply:
        reply = link_paged(req, items, fake.page_size)
        if wrap:
            reply = Reply(200, {"total_count": len(items), wrap: reply.body}, reply.headers)
        reply.headers.update(fake.rate.take())  # type: ignore[attr-defined]
        return reply

    def ordered(req: Request, repos: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sort = (req.query.get("sort") or ["full_name"])[0]
        field_ = {"updated": "updated_at", "pushed": "pushed_at", "created": "created_at"}.get(
            sort, "full_name"
        )
        default = "asc" if field_ == "full_name" else "desc"
        reverse = (req.query.get("direction") or [default])[0] == "desc"
        return sorted(repos, key=lambda r: (str(r.get(field_) or ""), r["id"]), reverse=reverse)

    @route("GET", r"/orgs/(?P<org>[^/]+)/repos$")
    def org_repos(req: Request) -> Reply:
        if fake._who(req) is None:
            return Reply(401, {"message": "Bad credentials"})
        assert req.match is not None
        org = req.match["org"]
        repos = [r for r in list(store.values()) if r["owner"]["login"] == org]
        return paged(req, ordered(req, repos))

    @route("GET", r"/user/repos$")
    def user_repos(req: Request) -> Reply:
        if fake._who(req) is None:
            return Reply(401, {"message": "Bad credentials"})
        return paged(req, ordered(req, list(store.values())))

    @route("GET", r"/repositories/(?P<id>\d+)$")
    def by_id(req: Request) -> Reply:
        if fake._who(req) is None:
            return Reply(401, {"message": "Bad credentials"})
        assert req.match is not None
        repo = store.get(int(req.match["id"]))
        if repo is None:
            return Reply(404, {"message": "Not Found"})
        return Reply(200, repo, fake.rate.take())  # type: ignore[attr-defined]

    @route("GET", r"/app/installations$")
    def installations(req: Request) -> Reply:
        if not req.headers.get("authorization", "").startswith("Bearer ey"):
            return Reply(401, {"message": "A JSON web token could not be decoded"})
        ids = sorted(fake.installation_repos)  # type: ignore[attr-defined]
        return paged(req, [{"id": int(i), "account": {"login": f"inst-{i}"}} for i in ids])

    @route("GET", r"/installation/repositories$")
    def installation_repos(req: Request) -> Reply:
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in fake.app_tokens:  # the fake's App has the one installation
            return Reply(401, {"message": "Bad credentials"})
        granted = fake.installation_repos.get(fake.installation, [])  # type: ignore[attr-defined]
        return paged(req, [store[i] for i in granted if i in store], wrap="repositories")
