"""A loopback Bitbucket Cloud REST API (2.0): pull requests and their diffs, PR comments,
commit build statuses, Code Insights reports and annotations; and Bitbucket Data Center
build statuses.

Cloud shapes from https://developer.atlassian.com/cloud/bitbucket/rest/: ``GET
/repositories/{ws}/{slug}/pullrequests/{id}`` (``source.commit.hash``), ``…/diff`` (302 to
``/repositories/{ws}/{slug}/diff/{spec}``, plain text), ``…/comments`` (paged: ``values``,
``next``, ``pagelen``), ``PUT …/comments/{id}`` with ``content.raw``, ``POST
/commit/{sha}/statuses/build`` (``key``, ``state``, ``url`` required), ``PUT
/commit/{sha}/reports/{id}``, ``POST …/reports/{id}/annotations`` (a list, at most 100,
keyed by ``external_id``). Data Center: ``POST
/rest/api/latest/projects/{key}/repos/{slug}/commits/{sha}/builds``.

Pipelines (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-pipelines/):
``GET .../pipelines/`` and ``.../pipelines/{uuid}/steps/`` (pages with ``next``), ``GET
.../steps/{step_uuid}/log`` (plain text, ``404`` when there is none).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.support.fakehttp import FakeServer, Reply, Request
from tests.support.fakes import next_paged

__all__ = ["AuditedRepo", "FakeBitbucket", "PullRequestState"]

REPO = r"/repositories/(?P<repo>[^/]+/[^/]+)"
PR = REPO + r"/pullrequests/(?P<id>\d+)"
BUILD_STATES = ("INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED")


@dataclass
class PullRequestState:
    head: str
    diff: str
    base: str = "d" * 12
    state: str = "OPEN"
    # What compliance reads: the rest of the PR object (a webhook fixture's ``pullrequest``
    # is the REST object), participants (approvals), commits and the diffstat.
    api: dict[str, Any] = field(default_factory=dict)
    participants: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    diffstat: list[dict[str, Any]] = field(default_factory=list)


class FakeBitbucket(FakeServer):
    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = (),
        page_size: int = 100,
        scopes: str = "pullrequest:write, repository:write",
    ) -> None:
        super().__init__()
        self.tokens = set(tokens)
        self.scopes = scopes  # what Bitbucket answers in X-OAuth-Scopes
        self.page_size = page_size
        self.pulls: dict[tuple[str, int], PullRequestState] = {}
        self.comments: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.reports: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.annotations: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.server_statuses: list[dict[str, Any]] = []
        self._ids = itertools.count(300)
        self._routes_()
        self._read_routes_()
        # Pipelines: pipelines per repo (newest first), steps per pipeline UUID, step logs.
        self.pipelines: dict[str, list[dict[str, Any]]] = {}
        self.steps: dict[str, list[dict[str, Any]]] = {}
        self.step_logs: dict[str, bytes] = {}
        self._pipelines_routes_()
        self.audited: dict[str, AuditedRepo] = {}  # workspace/slug → what the audit reads
        self._audit_routes_()

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments if (c["repo"], c["pr"]) == (repo, number)]

    def latest_status(self, repo: str, sha: str, key: str) -> dict[str, Any] | None:
        found = [s for s in self.statuses if (s["repo"], s["sha"], s["key"]) == (repo, sha, key)]
        return found[-1] if found else None

    def approve(self, repo: str, number: int, user: dict[str, Any], at: str) -> None:
        """A participant's approval as Bitbucket lists it on the pull request."""
        self.pulls[(repo, number)].participants.append(
            {
                "type": "participant",
                "user": user,
                "role": "REVIEWER",
                "approved": True,
                "state": "approved",
                "participated_on": at,
            }
        )

    def _denied(self, req: Request) -> Reply | None:
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return Reply(401, {"type": "error", "error": {"message": "Unauthorized"}})
        return None

    def _routes_(self) -> None:
        route = self.route

        denied = self._denied

        def key(req: Request) -> tuple[str, int]:
            assert req.match is not None
            return req.match.group("repo"), int(req.match.group("id"))

        @route("GET", r"/user")
        def user(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            return Reply(200, {"display_name": "CI Bot"}, headers={"X-OAuth-Scopes": self.scopes})

        @route("GET", PR)
        def pull(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            pr = self.pulls.get(key(req))
            if pr is None:
                return Reply(404, {"type": "error", "error": {"message": "Not found"}})
            api = pr.api
            return Reply(
                200,
                {
                    **api,
                    "id": key(req)[1],
                    "state": pr.state,
                    "participants": pr.participants,
                    "source": {**api.get("source", {}), "commit": {"hash": pr.head}},
                    "destination": {**api.get("destination", {}), "commit": {"hash": pr.base}},
                },
            )

        @route("GET", PR + r"/diff")
        def diff_redirect(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            repo, number = key(req)
            pr = self.pulls[(repo, number)]
            target = f"http://{req.headers['host']}/repositories/{repo}/diff/{pr.head}..{pr.base}"
            return Reply(302, "", headers={"Location": f"{target}?from_pullrequest_id={number}"})

        @route("GET", REPO + r"/diff/(?P<spec>[0-9a-f]+\.\.[0-9a-f]+)")
        def diff(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            head = req.match.group("spec").split("..")[0]
            for (repo, _), pr in self.pulls.items():
                if repo == req.match.group("repo") and pr.head == head:
                    return Reply(200, pr.diff, headers={"Content-Type": "text/plain"})
            return Reply(404, {"type": "error"})

        @route("GET", PR + r"/comments")
        def list_comments(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            found = [
                {"id": c["id"], "content": {"raw": c["raw"]}, "deleted": c.get("deleted", False)}
                for c in self.comments_on(*key(req))
            ]
            return next_paged(req, found, self.page_size)

        @route("POST", PR + r"/comments")
        def add_comment(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            repo, number = key(req)
            comment = {
                "id": next(self._ids),
                "repo": repo,
                "pr": number,
                "raw": req.json()["content"]["raw"],
            }
            self.comments.append(comment)
            return Reply(201, {"id": comment["id"], "content": {"raw": comment["raw"]}})

        @route("PUT", PR + r"/comments/(?P<comment>\d+)")
        def edit_comment(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            for c in self.comments:
                if c["id"] == int(req.match.group("comment")):
                    c["raw"] = req.json()["content"]["raw"]
                    c["edits"] = c.get("edits", 0) + 1
                    return Reply(200, {"id": c["id"], "content": {"raw": c["raw"]}})
            return Reply(404, {"type": "error"})

        @route("POST", REPO + r"/commit/(?P<sha>[0-9a-f]+)/statuses/build")
        def status(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            body = req.json()
            if body.get("state") not in BUILD_STATES or not body.get("key") or not body.get("url"):
                return Reply(400, {"type": "error", "error": {"message": "Bad request"}})
            self.statuses.append(
                {"repo": req.match.group("repo"), "sha": req.match.group("sha"), **body}
            )
            return Reply(201, {"type": "commitstatus", **body})

        @route("PUT", REPO + r"/commit/(?P<sha>[0-9a-f]+)/reports/(?P<report>[\w-]+)")
        def report(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            body = req.json()
            if body.get("report_type") not in (
                "SECURITY",
                "COVERAGE",
                "TEST",
                "BUG",
            ) or not body.get("title"):
                return Reply(400, {"type": "error"})
            k = (req.match.group("repo"), req.match.group("sha"), req.match.group("report"))
            self.reports[k] = body
            return Reply(200, {"uuid": "{r}", "external_id": k[2], **body})

        @route("POST", REPO + r"/commit/(?P<sha>[0-9a-f]+)/reports/(?P<report>[\w-]+)/annotations")
        def annotations(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            k = (req.match.group("repo"), req.match.group("sha"), req.match.group("report"))
            if k not in self.reports:
                return Reply(404, {"type": "error", "error": {"message": "report not found"}})
            items = req.json()
            if not isinstance(items, list) or len(items) > 100:
                return Reply(400, {"type": "error", "error": {"message": "max 100 annotations"}})
            stored = self.annotations.setdefault(k, {})
            for a in items:
                if a.get("annotation_type") not in ("VULNERABILITY", "CODE_SMELL", "BUG"):
                    return Reply(400, {"type": "error"})
                stored[a["external_id"]] = a
            return Reply(200, items)

        @route(
            "POST",
            r"/rest/api/latest/projects/(?P<project>[^/]+)/repos/(?P<slug>[^/]+)"
            r"/commits/(?P<sha>[0-9a-f]+)/builds",
        )
        def server_status(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            body = req.json()
            if body.get("state") not in ("INPROGRESS", "SUCCESSFUL", "FAILED"):
                return Reply(400, {"errors": [{"message": "state is invalid"}]})
            self.server_statuses.append({**req.match.groupdict(), **body})
            return Reply(204)

    def _read_routes_(self) -> None:
        """Reads pr_compliance makes: commits, diffstat, a commit's statuses and its PRs."""
        route = self.route

        denied = self._denied

        def pull_of(req: Request) -> PullRequestState | None:
            assert req.match is not None
            return self.pulls.get((req.match.group("repo"), int(req.match.group("id"))))

        @route("GET", PR + r"/commits")
        def commits(req: Request) -> Reply:
            pr = pull_of(req)
            return denied(req) or (
                next_paged(req, pr.commits, self.page_size) if pr else Reply(404, {})
            )

        @route("GET", PR + r"/diffstat")
        def diffstat(req: Request) -> Reply:
            pr = pull_of(req)
            return denied(req) or (
                next_paged(req, pr.diffstat, self.page_size) if pr else Reply(404, {})
            )

        @route("GET", REPO + r"/commit/(?P<sha>[0-9a-f]+)/statuses")
        def statuses(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            repo, sha = req.match.group("repo"), req.match.group("sha")
            latest: dict[str, dict[str, Any]] = {}
            for st in self.statuses:
                if st["repo"] == repo and (st["sha"].startswith(sha) or sha.startswith(st["sha"])):
                    latest[st["key"]] = {
                        "type": "build",
                        "key": st["key"],
                        "name": st.get("name"),
                        "state": st["state"],
                        "url": st.get("url"),
                    }
            return next_paged(req, list(latest.values()), self.page_size)

        @route("GET", REPO + r"/commit/(?P<sha>[0-9a-f]+)/pullrequests")
        def pulls_of_commit(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            sha = req.match.group("sha")
            found = [
                {"type": "pullrequest", "id": n, "state": pr.state}
                for (repo, n), pr in self.pulls.items()
                if repo == req.match.group("repo")
                and (pr.head.startswith(sha) or sha.startswith(pr.head))
            ]
            return next_paged(req, found, self.page_size)

    # -- Pipelines: pipelines, steps, step logs -------------------------------------------
    def add_pipeline(self, repo: str, number: int, uuid: str, steps: list[dict[str, Any]]) -> None:
        self.pipelines.setdefault(repo, []).insert(
            0, {"type": "pipeline", "uuid": uuid, "build_number": number}
        )
        self.steps[uuid] = steps

    def _pipelines_routes_(self) -> None:
        route = self.route

        denied = self._denied

        @route("GET", REPO + r"/pipelines/")
        def pipelines(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            return next_paged(req, self.pipelines.get(req.match["repo"], []), self.page_size)

        @route("GET", REPO + r"/pipelines/(?P<uuid>[^/]+)/steps/")
        def steps(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            found = self.steps.get(unquote(req.match["uuid"]))
            if found is None:
                return Reply(404, {"type": "error", "error": {"message": "Pipeline not found"}})
            return next_paged(req, found, self.page_size)

        @route("GET", REPO + r"/pipelines/(?P<uuid>[^/]+)/steps/(?P<step>[^/]+)/log")
        def step_log(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            data = self.step_logs.get(unquote(req.match["step"]))
            if data is None:
                return Reply(404, {"type": "error", "error": {"message": "Log not found"}})
            return Reply(200, raw=data, headers={"Content-Type": "application/octet-stream"})

    # -- repository audit: branch restrictions, branching model, archives ----------------
    # (repo_inventory's posture audit and committed-content scan; listing routes are apart)
    def _audit_routes_(self) -> None:
        """``GET /repositories/{w}/{r}/branch-restrictions`` (``values``/``next`` pages),
        ``…/branching-model`` (404 when none), ``…/refs/branches/{name}`` (``target.hash``),
        and the web download ``/{w}/{r}/get/{ref}.tar.gz`` (a gzipped tar whose one top
        folder is ``{w}-{r}-{sha12}``), here on the same host as the API."""
        route = self.route

        def audited(req: Request) -> tuple[AuditedRepo | None, Reply | None]:
            if bad := self._denied(req):
                return None, bad
            assert req.match is not None
            found = self.audited.get(req.match["repo"])
            missing = Reply(404, {"type": "error", "error": {"message": "Repository not found"}})
            return found, None if found else missing

        @route("GET", REPO + r"/branch-restrictions")
        def restrictions(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None:
                return bad or Reply(404)
            return next_paged(req, found.restrictions, self.page_size)

        @route("GET", REPO + r"/branching-model")
        def branching_model(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None or found.branching_model is None:
                return bad or Reply(404, {"type": "error", "error": {"message": "Not found"}})
            return Reply(200, found.branching_model)

        @route("GET", REPO + r"/refs/branches/(?P<branch>[^/]+)")
        def branch(req: Request) -> Reply:
            found, bad = audited(req)
            name = unquote(req.match["branch"]) if req.match else ""
            if found is None or name != found.mainbranch:
                return bad or Reply(404, {"type": "error", "error": {"message": "Not found"}})
            return Reply(200, {"name": name, "target": {"hash": found.head_sha}})

        @route("GET", r"/(?P<repo>[^/]+/[^/]+)/get/(?P<ref>[^/]+)\.tar\.gz")
        def archive(req: Request) -> Reply:
            from tests.support.fakes.github import tar_gz

            found, bad = audited(req)
            if found is None or req.match is None:
                return bad or Reply(404)
            found.downloads += 1
            top = f"{req.match['repo'].replace('/', '-')}-{req.match['ref'][:12]}"
            data = tar_gz(found.files, top)
            return Reply(200, raw=data, headers={"Content-Type": "application/x-gzip"})


@dataclass
class AuditedRepo:
    """One repository as the posture audit and the committed-content scan read it."""

    mainbranch: str = "main"
    restrictions: list[dict[str, Any]] = field(default_factory=list)
    branching_model: dict[str, Any] | None = None
    head_sha: str = "c" * 40
    files: dict[str, bytes] = field(default_factory=dict)
    downloads: int = 0


# -- repository listing (repo_inventory) -------------------------------------------------------
# ``GET /user/permissions/workspaces`` and ``GET /repositories/{workspace}`` (``q=updated_on >
# …``, ``sort=-updated_on``), paged by ``next`` URLs; ``GET /repositories/{workspace}/{slug or
# {uuid}}``. ``fake.inventory`` maps a repository uuid to its REST object; answers carry
# ``X-RateLimit-Limit/Remaining`` (Bitbucket's names, no reset: a rolling hour).
def serve_repositories(fake: FakeBitbucket) -> None:
    if getattr(fake, "inventory", None) is not None:
        return
    from datetime import datetime

    fake.inventory = {}  # type: ignore[attr-defined]
    fake.rate_remaining = 1000  # type: ignore[attr-defined]
    store: dict[str, dict[str, Any]] = fake.inventory  # type: ignore[attr-defined]

    def when(text: str) -> datetime:
        return datetime.fromisoformat(text.strip().strip('"').replace("Z", "+00:00"))

    def with_rate(reply: Reply) -> Reply:
        fake.rate_remaining = max(0, fake.rate_remaining - 1)  # type: ignore[attr-defined]
        reply.headers.update(
            {
                "X-RateLimit-Limit": "1000",
                "X-RateLimit-Remaining": str(fake.rate_remaining),  # type: ignore[attr-defined]
            }
        )
        return reply

    @fake.route("GET", r"/user/permissions/workspaces$")
    def workspaces(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        slugs = sorted({r["workspace"]["slug"] for r in list(store.values())})
        items = [
            {"permission": "owner", "workspace": {"slug": s, "type": "workspace"}} for s in slugs
        ]
        return with_rate(next_paged(req, items, fake.page_size))

    @fake.route("GET", r"/repositories/(?P<ws>[^/]+)$")
    def repositories(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        assert req.match is not None
        ws = unquote(req.match["ws"])
        items = [r for r in list(store.values()) if r["workspace"]["slug"] == ws]
        query = (req.query.get("q") or [""])[0]
        if query.startswith("updated_on >"):
            since = when(query.removeprefix("updated_on >"))
            items = [r for r in items if when(r["updated_on"]) > since]
        if (req.query.get("sort") or [""])[0] == "-updated_on":
            items.sort(key=lambda r: when(r["updated_on"]), reverse=True)
        else:
            items.sort(key=lambda r: r["full_name"])
        return with_rate(next_paged(req, items, fake.page_size))

    @fake.route("GET", r"/repositories/(?P<ws>[^/]+)/(?P<slug>[^/]+)$")
    def repository(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        assert req.match is not None
        slug = unquote(req.match["slug"])
        for repo in list(store.values()):
            if slug in (repo["uuid"], repo["slug"]):
                return with_rate(Reply(200, repo))
        return Reply(404, {"type": "error", "error": {"message": "Repository not found"}})
