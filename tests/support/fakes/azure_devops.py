"""A loopback Azure DevOps REST API (Azure Repos, api-version 7.1): pull requests, iterations
and their changes, blobs, PR threads and comments, PR statuses, commit statuses.

Shapes from https://learn.microsoft.com/rest/api/azure/devops/git/: ``GET
/{org}/{project}/_apis/git/repositories/{repo}/pullRequests/{id}``, ``…/iterations``
(``value``), ``…/iterations/{n}/changes`` (``changeEntries``, ``$top``/``$skip``,
``nextSkip``/``nextTop``), ``…/blobs/{objectId}?$format=octetstream``, ``…/threads``
(``value``; POST with ``comments``, ``status``, ``threadContext``), ``PATCH
…/threads/{id}`` and ``…/threads/{id}/comments/{cid}``, ``POST …/pullRequests/{id}/statuses``
and ``…/commits/{sha}/statuses`` (``state``, ``context.name``/``genre``). Every request must
carry ``api-version``; auth is Basic with an empty user and the PAT.

Pipelines (https://learn.microsoft.com/rest/api/azure/devops/build): ``GET
.../build/builds/{id}/timeline`` (records with ``type``, ``parentId``, ``log: {id, url}``),
``GET .../builds/{id}/logs/{logId}`` (plain text), ``PUT .../builds/{id}/tags/{tag}``, and
``PATCH .../distributedtask/hubs/build/plans/{plan}/timelines/{timeline}/records``
(``{"value": [records], "count": n}``).

Boards (https://learn.microsoft.com/rest/api/azure/devops/wit): ``POST
/{org}/{project}/_apis/wit/wiql`` (``{"query"}`` → ``workItems: [{id, url}]``; the fake
understands the ``[System.Tags] CONTAINS '…'`` and ``[System.State] NOT IN (…)`` clauses),
``POST …/_apis/wit/workitems/${type}`` (a JSON Patch document, ``Content-Type:
application/json-patch+json``, else 415; answers the work item with ``id``, ``rev``,
``fields``), ``POST …/_apis/wit/workItems/{id}/comments`` (``{"text"}``) and ``PATCH
…/_apis/wit/workitems/{id}``. Created items are in ``work_items`` and each committed create in
``committed("workitem")``, each comment in ``committed("workitem_comment")``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.support.fakehttp import FakeServer, Reply, Request
from tests.support.fakes import query_int

__all__ = ["AuditedRepo", "FakeAzureDevOps", "PullRequestState", "blob_id", "continued"]

REPO = r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/git/repositories/(?P<repo>[^/]+)"
PR = REPO + r"/pullRequests/(?P<id>\d+)"
STATES = ("error", "failed", "notApplicable", "notSet", "pending", "succeeded")


def repo_path(req: Request) -> str:
    """``org/project/repo`` of a request to a repository route."""
    assert req.match is not None
    return "/".join(unquote(req.match.group(k)) for k in ("org", "project", "repo"))


def blob_id(text: str) -> str:
    return hashlib.sha1(f"blob {len(text.encode())}\0{text}".encode()).hexdigest()


@dataclass
class PullRequestState:
    """A PR whose latest iteration changes ``files`` (path → (old text or None, new text))."""

    head: str
    files: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    base: str = "e" * 40
    iterations: int = 1
    status: str = "active"
    # What compliance reads: the rest of the PR object (a service hook's ``resource`` is the
    # REST object), reviewers with votes, and commits (``commitId``, ``parents``).
    api: dict[str, Any] = field(default_factory=dict)
    reviewers: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)


class FakeAzureDevOps(FakeServer):
    def __init__(self, *, pats: tuple[str, ...] = (), page_size: int = 100) -> None:
        super().__init__()
        self.pats = set(pats)
        self.page_size = page_size
        self.pulls: dict[tuple[str, int], PullRequestState] = {}
        self.blobs: dict[str, str] = {}
        self.threads: list[dict[str, Any]] = []
        self.pr_statuses: list[dict[str, Any]] = []
        self.commit_statuses: list[dict[str, Any]] = []
        self._ids = itertools.count(40)
        self._routes_()
        self._read_routes_()
        # Pipelines: timelines and task logs by build id, build tags, timeline record issues.
        self.timelines: dict[int, dict[str, Any]] = {}
        self.build_logs: dict[tuple[int, int], bytes] = {}
        self.tags: dict[int, list[str]] = {}
        self.record_issues: dict[str, list[dict[str, Any]]] = {}
        self._builds_routes_()
        # The repository audit: policies and service connections by "org/project", repos by id.
        self.policies: dict[str, list[dict[str, Any]]] = {}
        self.endpoints: dict[str, list[dict[str, Any]]] = {}
        self.endpoint_permissions: dict[str, dict[str, Any]] = {}  # endpoint id → permissions
        self.audited: dict[str, AuditedRepo] = {}  # repository id → its head and tree
        self._audit_routes_()
        self.work_items: dict[int, dict[str, Any]] = {}  # id → fields
        self._boards_routes_()

    def _boards_routes_(self) -> None:
        route = self.route
        denied = self._denied
        project = r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/wit"
        ids = itertools.count(1)

        def item(number: int) -> dict[str, Any]:
            fields = self.work_items[number]
            return {"id": number, "rev": fields["rev"], "fields": fields, "url": f"/{number}"}

        @route("POST", project + r"/wiql")
        def wiql(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            query = str(req.json().get("query") or "")
            tags = re.findall(r"\[System\.Tags\] CONTAINS '([^']+)'", query)
            closed = re.search(r"\[System\.State\] NOT IN \(([^)]*)\)", query)
            excluded = set(re.findall(r"'([^']+)'", closed.group(1))) if closed else set()
            found = [
                {"id": n, "url": f"/{n}"}
                for n, f in sorted(self.work_items.items())
                if all(t in f.get("System.Tags", "") for t in tags)
                and f.get("System.State") not in excluded
            ]
            return Reply(200, {"queryType": "flat", "workItems": found})

        @route("POST", project + r"/workitems/\$(?P<type>[\w ]+)")
        def create(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            if req.headers.get("content-type", "").split(";")[0] != "application/json-patch+json":
                return Reply(415, {"message": "Content-Type must be application/json-patch+json"})
            ops = req.json()
            if not isinstance(ops, list) or not all(o.get("op") == "add" for o in ops):
                return Reply(400, {"message": "a JSON Patch document of add operations"})
            assert req.match is not None
            fields = {o["path"].removeprefix("/fields/"): o["value"] for o in ops}
            number = next(ids)
            self.work_items[number] = {
                **fields,
                "System.WorkItemType": req.match.group("type"),
                "System.State": "New",
                "rev": 1,
            }
            self.commit("workitem", id=number, tags=fields.get("System.Tags", ""))
            return Reply(200, item(number))

        @route("POST", project + r"/workItems/(?P<id>\d+)/comments")
        def comment(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            if int(req.match.group("id")) not in self.work_items:
                return Reply(404, {"message": "work item does not exist"})
            self.commit("workitem_comment", id=int(req.match.group("id")))
            return Reply(200, {"id": len(self.committed("workitem_comment")), **req.json()})

        @route("PATCH", project + r"/workitems/(?P<id>\d+)")
        def update(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            number = int(req.match.group("id"))
            if number not in self.work_items:
                return Reply(404, {"message": "work item does not exist"})
            for op in req.json():
                self.work_items[number][op["path"].removeprefix("/fields/")] = op["value"]
            self.work_items[number]["rev"] += 1
            return Reply(200, item(number))

    def add_pull(self, repo: str, number: int, state: PullRequestState) -> None:
        """``repo`` is ``org/project/repo``."""
        self.pulls[(repo, number)] = state
        for old, new in state.files.values():
            for text in (old, new):
                if text is not None:
                    self.blobs[blob_id(text)] = text

    def vote(self, repo: str, number: int, unique_name: str, vote: int) -> None:
        """A reviewer's vote (10 approved, 5 with suggestions, -5 waiting, -10 rejected)."""
        pr = self.pulls[(repo, number)]
        for reviewer in pr.reviewers:
            if reviewer["uniqueName"] == unique_name:
                reviewer["vote"] = vote
                return
        pr.reviewers.append(
            {
                "id": f"id-{unique_name}",
                "uniqueName": unique_name,
                "displayName": unique_name.split("@")[0].title(),
                "vote": vote,
                "isRequired": False,
            }
        )

    def threads_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [t for t in self.threads if (t["repo"], t["pr"]) == (repo, number)]

    def _pat(self, req: Request) -> str:
        """The PAT of a Basic ``:PAT`` authorization header, or ""."""
        auth = req.headers.get("authorization", "")
        try:
            return base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)[1]
        except (ValueError, IndexError):
            return ""

    def _denied(self, req: Request) -> Reply | None:
        if self._pat(req) not in self.pats:
            return Reply(401, raw=b"", headers={"Content-Type": "text/html"})
        if not req.query.get("api-version"):
            return Reply(400, {"message": "No api-version was supplied for the request."})
        return None

    def _routes_(self) -> None:
        route = self.route

        denied = self._denied

        def pr_of(req: Request) -> tuple[str, int]:
            assert req.match is not None
            return repo_path(req), int(req.match.group("id"))

        @route("GET", r"/(?P<org>[^/]+)/_apis/connectionData")
        def connection_data(req: Request) -> Reply:
            if self._pat(req) not in self.pats:  # connectionData needs no api-version
                return Reply(401, raw=b"", headers={"Content-Type": "text/html"})
            return Reply(
                200, {"authenticatedUser": {"providerDisplayName": "CI Bot"}, "instanceId": "i"}
            )

        @route("GET", PR)
        def pull(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            pr = self.pulls.get(pr_of(req))
            if pr is None:
                return Reply(
                    404, {"message": "TF401180: The requested pull request was not found."}
                )
            return Reply(
                200,
                {
                    **pr.api,
                    "reviewers": pr.reviewers,
                    "pullRequestId": pr_of(req)[1],
                    "status": pr.status,
                    "lastMergeSourceCommit": {"commitId": pr.head},
                    "lastMergeTargetCommit": {"commitId": pr.base},
                },
            )

        @route("GET", PR + r"/iterations")
        def iterations(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            pr = self.pulls[pr_of(req)]
            value = [
                {
                    "id": n,
                    "sourceRefCommit": {"commitId": pr.head if n == pr.iterations else "0" * 40},
                    "commonRefCommit": {"commitId": pr.base},
                }
                for n in range(1, pr.iterations + 1)
            ]
            return Reply(200, {"value": value, "count": len(value)})

        @route("GET", PR + r"/iterations/(?P<n>\d+)/changes")
        def changes(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            pr = self.pulls[pr_of(req)]
            entries = []
            for i, (path, (old, new)) in enumerate(sorted(pr.files.items()), start=1):
                kind = "add" if old is None else "delete" if new is None else "edit"
                item: dict[str, Any] = {"path": f"/{path}", "gitObjectType": "blob"}
                if new is not None:
                    item["objectId"] = blob_id(new)
                if old is not None:
                    item["originalObjectId"] = blob_id(old)
                entries.append(
                    {"changeTrackingId": i, "changeId": i, "item": item, "changeType": kind}
                )
            top = min(query_int(req, "$top", 100), self.page_size)
            skip = query_int(req, "$skip", 0)
            body: dict[str, Any] = {"changeEntries": entries[skip : skip + top]}
            if skip + top < len(entries):
                body.update(nextSkip=skip + top, nextTop=top)
            return Reply(200, body)

        @route("GET", REPO + r"/blobs/(?P<blob>[0-9a-f]{40})")
        def blob(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            text = self.blobs.get(req.match.group("blob"))
            if text is None:
                return Reply(404, {"message": "blob not found"})
            return Reply(
                200, raw=text.encode(), headers={"Content-Type": "application/octet-stream"}
            )

        def public(t: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in t.items() if k not in ("repo", "pr")}

        @route("GET", PR + r"/threads")
        def list_threads(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            found = [public(t) for t in self.threads_on(*pr_of(req))]
            return Reply(200, {"value": found, "count": len(found)})

        @route("POST", PR + r"/threads")
        def add_thread(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            repo, number = pr_of(req)
            body = req.json()
            comments = body.get("comments") or []
            if not comments or not comments[0].get("content"):
                return Reply(400, {"message": "A thread needs a comment"})
            context = body.get("threadContext")
            if context is not None and (
                not str(context.get("filePath", "")).startswith("/")
                or (context.get("rightFileStart") or {}).get("line", 0) < 1
            ):
                return Reply(400, {"message": "Invalid thread context"})
            thread = {
                "id": next(self._ids),
                "repo": repo,
                "pr": number,
                "status": body.get("status", "active"),
                "threadContext": context,
                "properties": body.get("properties") or {},
                "isDeleted": False,
                "comments": [
                    {
                        "id": i,
                        "parentCommentId": c.get("parentCommentId", 0),
                        "content": c["content"],
                    }
                    for i, c in enumerate(comments, start=1)
                ],
            }
            self.threads.append(thread)
            return Reply(200, public(thread))

        def find(req: Request) -> dict[str, Any] | None:
            assert req.match is not None
            for t in self.threads_on(*pr_of(req)):
                if t["id"] == int(req.match.group("thread")):
                    return t
            return None

        @route("PATCH", PR + r"/threads/(?P<thread>\d+)")
        def edit_thread(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            thread = find(req)
            if thread is None:
                return Reply(404, {"message": "thread not found"})
            thread["status"] = req.json().get("status", thread["status"])
            return Reply(200, public(thread))

        @route("PATCH", PR + r"/threads/(?P<thread>\d+)/comments/(?P<comment>\d+)")
        def edit_comment(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            thread = find(req)
            assert req.match is not None
            for c in (thread or {}).get("comments", []):
                if c["id"] == int(req.match.group("comment")):
                    c["content"] = req.json()["content"]
                    c["edits"] = c.get("edits", 0) + 1
                    return Reply(200, c)
            return Reply(404, {"message": "comment not found"})

        def valid_status(body: dict[str, Any]) -> bool:
            return body.get("state") in STATES and bool((body.get("context") or {}).get("name"))

        @route("POST", PR + r"/statuses")
        def pr_status(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            body = req.json()
            if not valid_status(body):
                return Reply(400, {"message": "Invalid status"})
            repo, number = pr_of(req)
            self.pr_statuses.append({"repo": repo, "pr": number, **body})
            return Reply(200, {"id": len(self.pr_statuses), **body})

        @route("POST", REPO + r"/commits/(?P<sha>[0-9a-f]{40})/statuses")
        def commit_status(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            body = req.json()
            if not valid_status(body):
                return Reply(400, {"message": "Invalid status"})
            assert req.match is not None
            self.commit_statuses.append(
                {"repo": repo_path(req), "sha": req.match.group("sha"), **body}
            )
            return Reply(201, {"id": len(self.commit_statuses), **body})

    def _read_routes_(self) -> None:
        """Reads pr_compliance makes: PR commits (no parents, as Azure lists them), a commit
        (with parents), commit statuses (newest first) and PR statuses."""
        route = self.route

        denied = self._denied

        def paged(req: Request, items: list[Any]) -> Reply:
            top = min(query_int(req, "$top", 100), self.page_size)
            skip = query_int(req, "$skip", 0)
            chunk = items[skip : skip + top]
            return Reply(200, {"value": chunk, "count": len(chunk)})

        @route("GET", PR + r"/commits")
        def commits(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            pr = self.pulls[(repo_path(req), int(req.match.group("id")))]
            listed = [{k: v for k, v in c.items() if k != "parents"} for c in pr.commits]
            return paged(req, listed)

        @route("GET", REPO + r"/commits/(?P<sha>[0-9a-f]{40})")
        def commit(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            for (repo, _), pr in self.pulls.items():
                for c in pr.commits:
                    if repo == repo_path(req) and c["commitId"] == req.match.group("sha"):
                        return Reply(200, c)
            return Reply(404, {"message": "TF401175: The commit was not found."})

        @route("GET", REPO + r"/commits/(?P<sha>[0-9a-f]{40})/statuses")
        def commit_statuses(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            found = [
                {k: v for k, v in st.items() if k not in ("repo", "sha")}
                for st in reversed(self.commit_statuses)
                if (st["repo"], st["sha"]) == (repo_path(req), req.match.group("sha"))
            ]
            if (req.query.get("latestOnly") or ["false"])[0] == "true":
                seen: set[tuple[str, str]] = set()
                latest = []
                for st in found:
                    context = (st["context"].get("genre", ""), st["context"]["name"])
                    if context not in seen:
                        seen.add(context)
                        latest.append(st)
                found = latest
            return paged(req, found)

        @route("GET", PR + r"/statuses")
        def pr_statuses(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            assert req.match is not None
            number = int(req.match.group("id"))
            found = [
                {k: v for k, v in st.items() if k not in ("repo", "pr")}
                for st in self.pr_statuses
                if (st["repo"], st["pr"]) == (repo_path(req), number)
            ]
            return paged(req, found)

    # -- Pipelines: build timeline, task logs, tags, timeline record issues ----------------
    def add_build(self, build_id: int, jobs: dict[str, list[tuple[str, int]]]) -> None:
        """A build's timeline: each job with its tasks as (name, log id)."""
        records: list[dict[str, Any]] = []
        for j, (job, tasks) in enumerate(jobs.items()):
            job_id = f"job-{build_id}-{j}"
            records.append(
                {
                    "id": job_id,
                    "parentId": None,
                    "type": "Job",
                    "name": job,
                    "order": j + 1,
                    "result": "succeeded",
                    "log": {"id": 900 + j},
                }
            )
            for t, (task, log_id) in enumerate(tasks):
                records.append(
                    {
                        "id": f"task-{build_id}-{j}-{t}",
                        "parentId": job_id,
                        "type": "Task",
                        "name": task,
                        "order": t + 1,
                        "result": "succeeded",
                        "log": {
                            "id": log_id,
                            "type": "Container",
                            "url": f"{self.url}/_apis/build/builds/{build_id}/logs/{log_id}",
                        },
                    }
                )
        self.timelines[build_id] = {"id": f"timeline-{build_id}", "changeId": 7, "records": records}

    def _builds_routes_(self) -> None:
        route = self.route
        build = r"(?P<project>/.+?)/_apis/build/builds/(?P<build>\d+)"
        records = (
            r"(?P<project>/.+?)/_apis/distributedtask/hubs/build/plans/(?P<plan>[^/]+)"
            r"/timelines/(?P<timeline>[^/]+)/records"
        )

        denied = self._denied

        @route("GET", build + r"/timeline")
        def timeline(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            found = self.timelines.get(int(req.match["build"]))
            return Reply(200, found) if found else Reply(404, {"message": "build not found"})

        @route("GET", build + r"/logs/(?P<log>\d+)")
        def log(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            data = self.build_logs.get((int(req.match["build"]), int(req.match["log"])))
            if data is None:
                return Reply(404, {"message": "The requested log was not found."})
            return Reply(200, raw=data, headers={"Content-Type": "text/plain"})

        @route("PUT", build + r"/tags/(?P<tag>[^/]+)")
        def tag(req: Request) -> Reply:
            assert req.match is not None
            if bad := denied(req):
                return bad
            tags = self.tags.setdefault(int(req.match["build"]), [])
            if unquote(req.match["tag"]) not in tags:
                tags.append(unquote(req.match["tag"]))
            return Reply(200, {"count": len(tags), "value": tags})

        @route("PATCH", records)
        def update_records(req: Request) -> Reply:
            if bad := denied(req):
                return bad
            body = req.json()
            if not isinstance(body, dict) or body.get("count") != len(body.get("value") or []):
                return Reply(400, {"message": "count must match the records sent"})
            for record in body["value"]:
                self.record_issues[str(record["id"])] = list(record.get("issues") or [])
            return Reply(200, {"count": len(body["value"]), "value": body["value"]})

    # -- repository audit: branch policies, service connections, refs, zip downloads ------
    # (repo_inventory's posture audit, service-connection audit and committed-content scan)
    def _audit_routes_(self) -> None:
        """``GET /{org}/{project}/_apis/policy/configurations`` and
        ``…/_apis/serviceendpoint/endpoints`` (``value``, continued with
        ``x-ms-continuationtoken`` / ``continuationToken``), ``GET
        …/_apis/pipelines/pipelinePermissions/endpoint/{id}`` (``allPipelines.authorized``,
        ``pipelines``; 7.1-preview.1), ``GET …/git/repositories/{id}/refs?filter=heads/…``
        (``objectId``) and ``…/items?path=/&$format=zip&versionDescriptor.version=…`` (the
        tree as a zip, no top folder)."""
        route = self.route
        project_re = r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis"

        def scope(req: Request) -> str:
            assert req.match is not None
            return f"{unquote(req.match['org'])}/{unquote(req.match['project'])}"

        @route("GET", project_re + r"/policy/configurations")
        def policies(req: Request) -> Reply:
            if bad := self._denied(req):
                return bad
            return continued(req, self.policies.get(scope(req), []), self.page_size)

        @route("GET", project_re + r"/serviceendpoint/endpoints")
        def endpoints(req: Request) -> Reply:
            if bad := self._denied(req):
                return bad
            return continued(req, self.endpoints.get(scope(req), []), self.page_size)

        @route("GET", project_re + r"/pipelines/pipelinePermissions/endpoint/(?P<id>[^/]+)")
        def permissions(req: Request) -> Reply:
            if bad := self._denied(req):
                return bad
            assert req.match is not None
            endpoint = req.match["id"]
            found = self.endpoint_permissions.get(endpoint, {})
            return Reply(
                200,
                {
                    "resource": {"type": "endpoint", "id": endpoint},
                    "pipelines": found.get("pipelines", []),
                    "allPipelines": found.get("allPipelines"),
                },
            )

        def repo_of(req: Request) -> tuple[AuditedRepo | None, Reply | None]:
            if bad := self._denied(req):
                return None, bad
            assert req.match is not None
            found = self.audited.get(unquote(req.match["repo"]))
            missing = Reply(404, {"message": "TF401019: repository not found"})
            return found, None if found else missing

        @route("GET", REPO + r"/refs")
        def refs(req: Request) -> Reply:
            found, bad = repo_of(req)
            if found is None:
                return bad or Reply(404)
            wanted = (req.query.get("filter") or [""])[0]
            ref = f"refs/heads/{found.default_branch}"
            value = [{"name": ref, "objectId": found.head_sha}] if ref == f"refs/{wanted}" else []
            return Reply(200, {"value": value, "count": len(value)})

        @route("GET", REPO + r"/items")
        def items(req: Request) -> Reply:
            import io
            import zipfile

            found, bad = repo_of(req)
            if found is None:
                return bad or Reply(404)
            if (req.query.get("$format") or [""])[0] != "zip":
                return Reply(400, {"message": "the fake serves the tree as a zip only"})
            found.downloads += 1
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                for path, data in sorted(found.files.items()):
                    archive.writestr(path, data)
            return Reply(200, raw=out.getvalue(), headers={"Content-Type": "application/zip"})


@dataclass
class AuditedRepo:
    """One repository as the committed-content scan reads it."""

    default_branch: str = "main"
    head_sha: str = "d" * 40
    files: dict[str, bytes] = field(default_factory=dict)
    downloads: int = 0


def continued(req: Request, items: list[Any], page_size: int) -> Reply:
    """One page of ``items`` as Azure DevOps continues a list: ``value`` and ``count``, and
    an ``x-ms-continuationtoken`` header (the next index here) while more remain."""
    top = min(query_int(req, "$top", page_size), page_size)
    start = query_int(req, "continuationToken", 0)
    chunk = items[start : start + top]
    headers = {"x-ms-continuationtoken": str(start + top)} if start + top < len(items) else {}
    return Reply(200, {"value": chunk, "count": len(chunk)}, headers=headers)


# -- repository listing (repo_inventory) -------------------------------------------------------
# ``GET {org}/_apis/projects`` (``$top``; the next page's ``continuationToken`` in the
# ``x-ms-continuationtoken`` answer header), ``GET {org}/{project}/_apis/git/repositories``
# (``{"count", "value"}``; pages of ``page_size`` with a continuation token too), ``GET
# {org}/{project}/_apis/git/repositories/{id}``. ``fake.inventory`` maps a repository id
# (GUID) to its REST object, with ``project.name`` and an ``_org`` key naming where it lives;
# answers carry ``X-RateLimit-Remaining`` only when ``fake.throttle_after`` requests have
# been made (Azure sends rate headers only when a caller is being delayed), with
# ``Retry-After``.
def serve_repositories(fake: FakeAzureDevOps) -> None:
    if getattr(fake, "inventory", None) is not None:
        return
    fake.inventory = {}  # type: ignore[attr-defined]
    fake.throttle_after = None  # type: ignore[attr-defined]
    fake.listing_requests = 0  # type: ignore[attr-defined]
    store: dict[str, dict[str, Any]] = fake.inventory  # type: ignore[attr-defined]

    def page(req: Request, items: list[Any], default_top: int) -> Reply:
        top = min(query_int(req, "$top", default_top), fake.page_size)
        start = query_int(req, "continuationToken", 0)
        chunk = items[start : start + top]
        headers: dict[str, str] = {}
        if start + top < len(items):
            headers["x-ms-continuationtoken"] = str(start + top)
        fake.listing_requests += 1  # type: ignore[attr-defined]
        after = fake.throttle_after  # type: ignore[attr-defined]
        if after is not None and fake.listing_requests > after:  # type: ignore[attr-defined]
            headers.update(
                {
                    "X-RateLimit-Remaining": "0",
                    "Retry-After": "0.05",
                    "X-RateLimit-Resource": "Core",
                }
            )
        return Reply(200, {"count": len(chunk), "value": chunk}, headers=headers)

    @fake.route("GET", r"/(?P<org>[^/_][^/]*)/_apis/projects$")
    def projects(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        assert req.match is not None
        org = req.match["org"]
        names = sorted({r["project"]["name"] for r in list(store.values()) if r["_org"] == org})
        items = [{"id": f"p-{n}", "name": n, "state": "wellFormed"} for n in names]
        return page(req, items, 100)

    @fake.route("GET", r"/(?P<org>[^/_][^/]*)/(?P<project>[^/_][^/]*)/_apis/git/repositories$")
    def repositories(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        assert req.match is not None
        org, project = req.match["org"], unquote(req.match["project"])
        items = sorted(
            (
                {k: v for k, v in r.items() if k != "_org"}
                for r in list(store.values())
                if r["_org"] == org and r["project"]["name"] == project
            ),
            key=lambda r: r["name"],
        )
        return page(req, items, 10_000)

    @fake.route(
        "GET", r"/(?P<org>[^/_][^/]*)/(?P<project>[^/_][^/]*)/_apis/git/repositories/(?P<id>[^/]+)$"
    )
    def repository(req: Request) -> Reply:
        if (denied := fake._denied(req)) is not None:
            return denied
        assert req.match is not None
        repo = store.get(req.match["id"])
        if repo is None:
            return Reply(404, {"message": "TF401019: The Git repository does not exist."})
        return Reply(200, {k: v for k, v in repo.items() if k != "_org"})
