"""A loopback GitLab REST API (v4): merge requests and their diffs, notes, discussions, commit
statuses.

Shapes from https://docs.gitlab.com/api/: ``GET /projects/:id/merge_requests/:iid`` (``sha``,
``diff_refs``), ``/diffs`` (per file: ``new_path``, ``diff``, ``too_large``…), ``/notes``
and ``/discussions`` (``Link`` pagination; a discussion with a ``position`` needs
``base_sha``/``start_sha``/``head_sha`` and ``new_line``), ``PUT …/notes/:id``, ``PUT
…/discussions/:id?resolved=``, ``POST /projects/:id/statuses/:sha`` (states pending,
running, success, failed, canceled, skipped). ``:id`` is the URL-encoded project path.
Auth: ``PRIVATE-TOKEN``.

CI (https://docs.gitlab.com/ee/api/jobs.html): ``GET /projects/:id/pipelines/:id/jobs``
(``X-Next-Page`` pages) and ``GET /projects/:id/jobs/:id/trace`` (plain text, ``404`` once
erased); commit threads (https://docs.gitlab.com/ee/api/discussions.html#commits): ``GET`` /
``POST /projects/:id/repository/commits/:sha/discussions`` and ``PUT
.../discussions/:id/notes/:note_id``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.support.fakehttp import FakeServer, Reply, Request
from tests.support.fakes import link_paged, query_int

__all__ = ["AuditedProject", "FakeGitLab", "MergeRequestState"]

MR = r"/projects/(?P<project>[^/]+)/merge_requests/(?P<iid>\d+)"
STATES = ("pending", "running", "success", "failed", "canceled", "skipped")


@dataclass
class MergeRequestState:
    sha: str
    files: list[dict[str, Any]] = field(default_factory=list)  # new_path, diff, too_large…
    base_sha: str = "b" * 40
    start_sha: str = "c" * 40
    state: str = "opened"
    # What compliance reads: the rest of the MR object, who approved (usernames, in
    # order), its commits (``id``, ``created_at``, ``parent_ids``) and diff versions.
    api: dict[str, Any] = field(default_factory=dict)
    approved_by: list[str] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)


class FakeGitLab(FakeServer):
    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = (),
        page_size: int = 100,
        scopes: tuple[str, ...] = ("api",),
    ) -> None:
        super().__init__()
        self.tokens = set(tokens)
        self.scopes = list(scopes)
        self.page_size = page_size
        self.mrs: dict[tuple[str, int], MergeRequestState] = {}
        self.notes: list[dict[str, Any]] = []
        self.discussions: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.groups: dict[str, list[str]] = {}  # group path → member usernames
        self._ids = itertools.count(500)
        self._routes_()
        self._read_routes_()
        # CI: jobs by (project, pipeline id), job traces by job id, commit discussions.
        self.pipeline_jobs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.traces: dict[int, bytes] = {}
        self.commit_discussions: list[dict[str, Any]] = []
        self._ci_routes_()
        self.audited: dict[str, AuditedProject] = {}  # project id → what the audit reads
        self._audit_routes_()

    def notes_on(self, project: str, iid: int) -> list[dict[str, Any]]:
        return [n for n in self.notes if (n["project"], n["iid"]) == (project, iid)]

    def latest_status(self, project: str, sha: str, name: str) -> dict[str, Any] | None:
        found = [
            s for s in self.statuses if (s["project"], s["sha"], s["name"]) == (project, sha, name)
        ]
        return found[-1] if found else None

    def approve(self, project: str, iid: int, username: str, at: str) -> None:
        """An approval, and the system note GitLab writes with it."""
        self.mrs[(project, iid)].approved_by.append(username)
        self.notes.append(
            {
                "id": next(self._ids),
                "project": project,
                "iid": iid,
                "body": "approved this merge request",
                "system": True,
                "author": {"username": username},
                "created_at": at,
            }
        )

    def _key(self, req: Request) -> tuple[str, int]:
        assert req.match is not None
        return unquote(req.match.group("project")), int(req.match.group("iid"))

    def _denied(self, req: Request) -> Reply | None:
        if req.headers.get("private-token") not in self.tokens:
            return Reply(401, {"message": "401 Unauthorized"})
        return None

    def _routes_(self) -> None:
        route = self.route

        denied = self._denied

        @route("GET", r"/personal_access_tokens/self")
        def token_self(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            return Reply(200, {"id": 1, "name": "cievents", "active": True, "scopes": self.scopes})

        @route("GET", MR)
        def mr(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            state = self.mrs.get(self._key(req))
            if state is None:
                return Reply(404, {"message": "404 Not found"})
            return Reply(
                200,
                {
                    **state.api,
                    "iid": self._key(req)[1],
                    "sha": state.sha,
                    "state": state.state,
                    "diff_refs": {
                        "base_sha": state.base_sha,
                        "head_sha": state.sha,
                        "start_sha": state.start_sha,
                    },
                },
            )

        @route("GET", MR + r"/diffs")
        def diffs(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            state = self.mrs[self._key(req)]
            entries = [
                {
                    "old_path": f["new_path"],
                    "new_path": f["new_path"],
                    "new_file": f.get("new_file", False),
                    "renamed_file": False,
                    "deleted_file": f.get("deleted_file", False),
                    "too_large": f.get("too_large", False),
                    "collapsed": False,
                    "diff": "" if f.get("too_large") else f["diff"],
                }
                for f in state.files
            ]
            return link_paged(req, entries, self.page_size)

        @route("GET", MR + r"/notes")
        def list_notes(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            project, iid = self._key(req)
            public = [
                {k: n[k] for k in ("id", "body", "system", "author", "created_at") if k in n}
                for n in self.notes_on(project, iid)
            ]
            return link_paged(req, public, self.page_size)

        @route("POST", MR + r"/notes")
        def add_note(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            project, iid = self._key(req)
            note = {
                "id": next(self._ids),
                "project": project,
                "iid": iid,
                "body": req.json()["body"],
                "system": False,
            }
            self.notes.append(note)
            return Reply(201, {"id": note["id"], "body": note["body"]})

        @route("PUT", MR + r"/notes/(?P<note>\d+)")
        def edit_note(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            for n in self.notes:
                if n["id"] == int(req.match.group("note")):
                    n["body"] = req.json()["body"]
                    n["edits"] = n.get("edits", 0) + 1
                    return Reply(200, {"id": n["id"], "body": n["body"]})
            return Reply(404, {"message": "404 Not found"})

        @route("GET", MR + r"/discussions")
        def list_discussions(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            project, iid = self._key(req)
            found = [
                {k: d[k] for k in ("id", "notes")}
                for d in self.discussions
                if (d["project"], d["iid"]) == (project, iid)
            ]
            return link_paged(req, found, self.page_size)

        @route("POST", MR + r"/discussions")
        def add_discussion(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            project, iid = self._key(req)
            body = req.json()
            position = body.get("position")
            if position is not None:
                needed = ("base_sha", "start_sha", "head_sha", "position_type", "new_path")
                if any(not position.get(k) for k in needed) or not position.get("new_line"):
                    return Reply(400, {"message": "400 Bad request - position is invalid"})
                if position["head_sha"] != self.mrs[(project, iid)].sha:
                    return Reply(400, {"message": "400 Bad request - line_code can't be blank"})
            discussion = {
                "id": f"{next(self._ids):040x}",
                "project": project,
                "iid": iid,
                "notes": [
                    {
                        "id": next(self._ids),
                        "body": body["body"],
                        "position": position,
                        "resolvable": True,
                        "resolved": False,
                    }
                ],
            }
            self.discussions.append(discussion)
            return Reply(201, {k: discussion[k] for k in ("id", "notes")})

        @route("PUT", MR + r"/discussions/(?P<discussion>[0-9a-f]+)")
        def resolve(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            for d in self.discussions:
                if d["id"] == req.match.group("discussion"):
                    resolved = (req.query.get("resolved") or ["false"])[0] == "true"
                    for n in d["notes"]:
                        n["resolved"] = resolved
                    return Reply(200, {k: d[k] for k in ("id", "notes")})
            return Reply(404, {"message": "404 Not found"})

        @route("POST", r"/projects/(?P<project>[^/]+)/statuses/(?P<sha>[0-9a-f]{40})")
        def status(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            body = req.json()
            if body.get("state") not in STATES:
                return Reply(400, {"message": "state does not have a valid value"})
            entry = {
                "project": unquote(req.match.group("project")),
                "sha": req.match.group("sha"),
                "name": body.get("name") or body.get("context") or "default",
                **body,
            }
            self.statuses.append(entry)
            return Reply(201, {"id": len(self.statuses), "status": body["state"]})

    def _read_routes_(self) -> None:
        """Reads pr_compliance makes: approvals, commits (and one commit), versions, commit
        statuses (newest first), group members."""
        route = self.route
        project_re = r"/projects/(?P<project>[^/]+)"

        denied = self._denied

        def mr_of(req: Request) -> MergeRequestState | None:
            return self.mrs.get(self._key(req))

        @route("GET", MR + r"/approvals")
        def approvals(req: Request) -> Reply:
            mr = mr_of(req)
            if bad := denied(req) or (None if mr else Reply(404, {"message": "404 Not found"})):
                return bad
            assert mr is not None
            return Reply(
                200,
                {
                    "iid": self._key(req)[1],
                    "approved": bool(mr.approved_by),
                    "approved_by": [{"user": {"username": u}} for u in mr.approved_by],
                },
            )

        @route("GET", MR + r"/commits")
        def commits(req: Request) -> Reply:
            mr = mr_of(req)
            if bad := denied(req) or (None if mr else Reply(404, {"message": "404 Not found"})):
                return bad
            assert mr is not None
            listed = [{k: v for k, v in c.items() if k != "parent_ids"} for c in mr.commits]
            return link_paged(req, listed, self.page_size)

        @route("GET", MR + r"/versions")
        def versions(req: Request) -> Reply:
            mr = mr_of(req)
            if bad := denied(req) or (None if mr else Reply(404, {"message": "404 Not found"})):
                return bad
            assert mr is not None
            return link_paged(req, mr.versions, self.page_size)

        @route("GET", project_re + r"/repository/commits/(?P<sha>[0-9a-f]{40})")
        def commit(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            for (project, _), mr in self.mrs.items():
                for c in mr.commits:
                    if project == unquote(req.match.group("project")) and c[
                        "id"
                    ] == req.match.group("sha"):
                        return Reply(200, c)
            return Reply(404, {"message": "404 Commit Not Found"})

        @route("GET", project_re + r"/repository/commits/(?P<sha>[0-9a-f]{40})/statuses")
        def statuses(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            key = (unquote(req.match.group("project")), req.match.group("sha"))
            found = [
                {"id": i, "sha": st["sha"], "name": st["name"], "status": st["state"]}
                for i, st in enumerate(self.statuses)
                if (st["project"], st["sha"]) == key
            ]
            return link_paged(req, list(reversed(found)), self.page_size)

        @route("GET", r"/groups/(?P<group>[^/]+)/members/all")
        def members(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            group = self.groups.get(unquote(req.match.group("group")))
            if group is None:
                return Reply(404, {"message": "404 Group Not Found"})
            return link_paged(req, [{"username": u} for u in group], self.page_size)

    # -- CI: pipeline jobs and job traces -------------------------------------------------
    def _ci_routes_(self) -> None:
        route = self.route

        denied = self._denied

        @route("GET", r"/projects/(?P<project>[^/]+)/pipelines/(?P<pipeline>\d+)/jobs")
        def jobs(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            key = (unquote(req.match["project"]), int(req.match["pipeline"]))
            if key not in self.pipeline_jobs:
                return Reply(404, {"message": "404 Pipeline Not Found"})
            return link_paged(req, self.pipeline_jobs[key], self.page_size)

        @route("GET", r"/projects/(?P<project>[^/]+)/jobs/(?P<job>\d+)/trace")
        def trace(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            data = self.traces.get(int(req.match["job"]))
            if data is None:
                return Reply(404, {"message": "404 Not Found"})  # erased or expired
            return Reply(200, raw=data, headers={"Content-Type": "text/plain"})

        commit = r"/projects/(?P<project>[^/]+)/repository/commits/(?P<sha>[0-9a-f]+)/discussions"

        @route("GET", commit)
        def commit_threads(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            key = (unquote(req.match["project"]), req.match["sha"])
            found = [d for d in self.commit_discussions if (d["project"], d["sha"]) == key]
            return link_paged(req, found, self.page_size)

        @route("POST", commit)
        def new_commit_thread(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            body = req.data()
            if not body.get("body"):
                return Reply(400, {"message": "400 Bad request - body is missing"})
            thread = {
                "id": f"d{next(self._ids)}",
                "project": unquote(req.match["project"]),
                "sha": req.match["sha"],
                "individual_note": False,
                "notes": [{"id": next(self._ids), "body": body["body"], "system": False}],
            }
            self.commit_discussions.append(thread)
            return Reply(201, thread)

        @route("PUT", commit + r"/(?P<did>[^/]+)/notes/(?P<nid>\d+)")
        def edit_commit_note(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            for thread in self.commit_discussions:
                for note in thread["notes"] if thread["id"] == req.match["did"] else []:
                    if note["id"] == int(req.match["nid"]):
                        note["body"] = req.data()["body"]
                        return Reply(200, note)
            return Reply(404, {"message": "404 Note Not Found"})

    # -- repository audit: protected branches, approval rules, archives ------------------
    # (repo_inventory's posture audit and committed-content scan; listing routes are apart)
    def _audit_routes_(self) -> None:
        """``GET /projects/:id`` (``only_allow_merge_if_pipeline_succeeds``),
        ``…/protected_branches`` (names or wildcards, ``allow_force_push``),
        ``…/approval_rules`` (403 where the plan has none), ``…/repository/branches/:name``
        (``commit.id``) and ``…/repository/archive.tar.gz?sha=`` (a gzipped tar whose one
        top folder is ``{path}-{sha}``). ``:id`` is the numeric project id."""
        route = self.route
        project_re = r"/projects/(?P<id>\d+)"

        def audited(req: Request) -> tuple[AuditedProject | None, Reply | None]:
            if bad := self._denied(req):
                return None, bad
            assert req.match is not None
            found = self.audited.get(req.match["id"])
            return found, None if found else Reply(404, {"message": "404 Project Not Found"})

        @route("GET", project_re)
        def project(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None:  # not an audited project: a later route (the listing's) answers
                return bad if bad and bad.status == 401 else self._after(project, req)
            return Reply(
                200,
                {
                    "id": int(req.match["id"]) if req.match else 0,
                    "path_with_namespace": found.path,
                    "default_branch": found.default_branch,
                    "only_allow_merge_if_pipeline_succeeds": found.pipeline_must_succeed,
                },
            )

        @route("GET", project_re + r"/protected_branches")
        def protected(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None:
                return bad or Reply(404)
            return link_paged(req, found.protected_branches, self.page_size)

        @route("GET", project_re + r"/approval_rules")
        def approval_rules(req: Request) -> Reply:
            found, bad = audited(req)
            if found is None:
                return bad or Reply(404)
            if found.approval_rules is None:
                return Reply(403, {"message": "403 Forbidden"})
            return link_paged(req, found.approval_rules, self.page_size)

        @route("GET", project_re + r"/repository/branches/(?P<branch>[^/]+)")
        def branch(req: Request) -> Reply:
            found, bad = audited(req)
            name = unquote(req.match["branch"]) if req.match else ""
            if found is None or name != found.default_branch:
                return bad or Reply(404, {"message": "404 Branch Not Found"})
            return Reply(200, {"name": name, "commit": {"id": found.head_sha}})

        @route("GET", project_re + r"/repository/archive\.tar\.gz")
        def archive(req: Request) -> Reply:
            from tests.support.fakes.github import tar_gz

            found, bad = audited(req)
            if found is None:
                return bad or Reply(404)
            found.downloads += 1
            sha = (req.query.get("sha") or [found.head_sha])[0]
            top = f"{found.path.rsplit('/', 1)[-1]}-{sha}"
            data = tar_gz(found.files, top)
            return Reply(200, raw=data, headers={"Content-Type": "application/x-gzip"})

    def _after(self, handler: Any, req: Request) -> Reply:
        """The answer of the first route registered after ``handler`` that matches ``req``."""
        later = False
        for method, pattern, other in self._routes:
            if other is handler:
                later = True
                continue
            match = pattern.match(req.path)
            if later and method == req.method and match:
                req.match = match
                return other(req)
        return Reply(404, {"message": "404 Project Not Found"})


@dataclass
class AuditedProject:
    """One project as the posture audit and the committed-content scan read it."""

    path: str = "acme/web"
    default_branch: str = "main"
    protected_branches: list[dict[str, Any]] = field(default_factory=list)
    approval_rules: list[dict[str, Any]] | None = field(default_factory=list)  # None: 403
    pipeline_must_succeed: bool = False
    head_sha: str = "b" * 40
    files: dict[str, bytes] = field(default_factory=dict)
    downloads: int = 0


# -- repository listing (repo_inventory) -------------------------------------------------------
# ``GET /groups`` (``top_level_only``; keyset with ``pagination=keyset&order_by=name``: the
# ``Link`` next URL carries ``cursor``), ``GET /groups/{id}/projects`` (``include_subgroups``;
# keyset with ``order_by=id``: the next URL carries ``id_after``; ``last_activity_after``),
# ``GET /projects/{id}``. Every answer carries ``RateLimit-Limit/Remaining/Reset`` (GitLab's
# names) from ``fake.rate``. ``fake.groups`` lists group full paths; ``fake.inventory`` maps
# a project id to its REST object (``namespace.full_path`` is its group or subgroup).
def serve_repositories(fake: FakeGitLab) -> None:
    if getattr(fake, "inventory", None) is not None:
        return
    from urllib.parse import unquote, urlencode

    fake.inventory = {}  # type: ignore[attr-defined]
    fake.groups = []  # type: ignore[attr-defined]
    fake.rate_remaining = 2000  # type: ignore[attr-defined]
    store: dict[int, dict[str, Any]] = fake.inventory  # type: ignore[attr-defined]

    def rate() -> dict[str, str]:
        fake.rate_remaining = max(0, fake.rate_remaining - 1)  # type: ignore[attr-defined]
        return {
            "RateLimit-Limit": "2000",
            "RateLimit-Remaining": str(fake.rate_remaining),  # type: ignore[attr-defined]
            "RateLimit-Reset": str(int(time.time()) + 60),
        }

    def keyset(req: Request, items: list[Any], key: str, param: str) -> Reply:
        per_page = min(query_int(req, "per_page", 20), 100, fake.page_size)
        after = (req.query.get(param) or [""])[0]
        rest = (
            [i for i in items if not after or str(i[key]) > after]
            if key != "id"
            else [i for i in items if not after or i["id"] > int(after)]
        )
        chunk = rest[:per_page]
        headers = rate()
        if len(rest) > per_page:
            query = {k: v[0] for k, v in req.query.items() if k != param}
            query[param] = str(chunk[-1][key])
            headers["Link"] = (
                f'<http://{req.headers["host"]}{req.path}?{urlencode(query)}>; rel="next"'
            )
        return Reply(200, chunk, headers=headers)

    @fake.route("GET", r"/groups$")
    def groups(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        paths = sorted(fake.groups)  # type: ignore[attr-defined]
        if (req.query.get("top_level_only") or ["false"])[0] == "true":
            paths = [p for p in paths if "/" not in p]
        items = [{"id": 9000 + i, "full_path": p, "name": p} for i, p in enumerate(paths)]
        return keyset(req, items, "name", "cursor")

    @fake.route("GET", r"/groups/(?P<group>[^/]+)/projects$")
    def group_projects(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        assert req.match is not None
        group = unquote(req.match["group"])
        deep = (req.query.get("include_subgroups") or ["false"])[0] == "true"
        since = (req.query.get("last_activity_after") or [""])[0]
        items = sorted(
            (
                p
                for p in list(store.values())
                if p["namespace"]["full_path"] == group
                or (deep and p["namespace"]["full_path"].startswith(group + "/"))
            ),
            key=lambda p: p["id"],
        )
        if since:
            from datetime import datetime

            def when(text: str) -> datetime:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))

            items = [p for p in items if when(p["last_activity_at"]) > when(since)]
        return keyset(req, items, "id", "id_after")

    @fake.route("GET", r"/projects/(?P<id>\d+)$")
    def project(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        assert req.match is not None
        item = store.get(int(req.match["id"]))
        if item is None:
            return Reply(404, {"message": "404 Project Not Found"})
        return Reply(200, item, rate())
