"""Azure Repos: PR threads, PR statuses (what a branch policy requires), commit statuses, diffs.

A repository is ``org/project/repo`` (see ``cievents.vcs.repo``); requests go to
``{AZURE_DEVOPS_URL}/{org}`` (``https://dev.azure.com``) with a PAT as Basic auth.
The check is a pull-request status on the PR's latest iteration (a "Require a
status check" branch policy names it: genre ``cievents``, name ``secret-scan``
for ``cievents/secret-scan``) plus a commit status of the same name on the head,
and one thread per annotation on its line, closed as fixed when it is gone.

Azure Repos has no unified-diff API: the added lines come from the latest
iteration's changes (paginated with ``$top``/``$skip``) and both blobs of each
changed file, compared here.

REST shapes (api-version 7.1): https://learn.microsoft.com/rest/api/azure/devops/git/
(pull-requests, pull-request-iterations, pull-request-iteration-changes,
pull-request-threads, pull-request-thread-comments, pull-request-statuses,
statuses, blobs).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from cievents.http import HttpClient
from cievents.outbox import Outbox
from cievents.scm.base import (
    DEFAULT_MAX_PAGES,
    Annotation,
    CheckReport,
    HeadInfo,
    NotScannedError,
    Published,
    PullRequest,
    hidden_marker,
)
from cievents.scm.diff import AddedLines, added_by_versions
from cievents.vcs.repo import Repository

__all__ = ["API_VERSION", "STATES", "AzureReposClient", "status_context"]

API_VERSION = "7.1"
STATES = {
    "pending": "pending",
    "running": "pending",
    "success": "succeeded",
    "failure": "failed",
    "error": "error",
    "neutral": "notApplicable",
}
CHANGES_PER_PAGE = 100
MAX_THREADS = 2000


def status_context(name: str) -> dict[str, str]:
    """``cievents/secret-scan`` → genre ``cievents``, name ``secret-scan`` (shown as genre/name)."""
    genre, _, rest = name.rpartition("/")
    return {"genre": genre, "name": rest} if genre else {"name": name}


class AzureReposClient:
    provider = "azure-repos"

    def __init__(
        self,
        *,
        base_url: str = "https://dev.azure.com",
        token: str | None,
        outbox: Outbox | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        headers = (
            {"Authorization": "Basic " + base64.b64encode(f":{token}".encode()).decode()}
            if token
            else {}
        )
        self._token = token
        self.max_pages = max_pages
        self.api = HttpClient(
            sink="azure-devops", credential="AZURE_DEVOPS_PAT", base_url=base_url, headers=headers
        )
        self.http = HttpClient(
            sink="azure-devops",
            credential="AZURE_DEVOPS_PAT",
            base_url=base_url,
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda *_: {"id": 1, "comments": [{"id": 1}]},
        )

    @property
    def can_read(self) -> bool:
        return bool(self._token)

    def marker(self, key: str) -> str:
        return hidden_marker(key)

    @staticmethod
    def _repo(repo: Repository | str) -> str:
        path = repo.path if isinstance(repo, Repository) else repo
        org, project, name = path.split("/", 2)
        return (
            f"/{quote(org, safe='')}/{quote(project, safe='')}"
            f"/_apis/git/repositories/{quote(name, safe='')}"
        )

    def _pr(self, pr: PullRequest) -> str:
        return f"{self._repo(pr.repository)}/pullRequests/{pr.number}"

    def _get(self, path: str, what: str, **params: Any) -> Any:
        return self.api.get(path, params={"api-version": API_VERSION, **params}, what=what).json()

    def _send(self, method: str, path: str, body: Any, what: str) -> Any:
        return self.http.request(
            method, path, json_body=body, params={"api-version": API_VERSION}, what=what
        ).json()

    # -- statuses ------------------------------------------------------------------
    def set_status(
        self,
        repo: Repository | str,
        sha: str,
        state: str,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "state": STATES[state],
            "description": description[:4000],
            "context": status_context(context),
        }
        if target_url:
            body["targetUrl"] = target_url
        self._send(
            "POST",
            f"{self._repo(repo)}/commits/{sha}/statuses",
            body,
            f"azure-repos: status {context} on {sha[:7]}",
        )

    def publish_check(self, pr: PullRequest, report: CheckReport, head: HeadInfo) -> Published:
        body: dict[str, Any] = {
            "state": STATES[report.state],
            "description": report.title[:4000],
            "context": status_context(report.name),
        }
        if head.iteration:
            body["iterationId"] = head.iteration
        if report.details_url or pr.url:
            body["targetUrl"] = report.details_url or pr.url
        self._send(
            "POST", f"{self._pr(pr)}/statuses", body, f"azure-repos: PR status {report.name}"
        )
        self.set_status(
            pr.repository,
            head.head_sha,
            report.state,
            report.name,
            report.title,
            report.details_url or pr.url,
        )
        opened, closed = self.sync_line_threads(pr, report.name, report.annotations)
        return Published(
            ("pr_status", "commit_status", "threads"),
            head.head_sha,
            ids={"threads_opened": str(opened), "threads_closed": str(closed)},
        )

    # -- threads -------------------------------------------------------------------
    def _threads(self, pr: PullRequest) -> list[dict[str, Any]]:
        """The PR's threads (the API returns them all at once; bounded here all the same)."""
        if not self.can_read:
            return []
        body = self._get(f"{self._pr(pr)}/threads", f"azure-repos: threads of PR {pr.number}")
        threads = [t for t in body.get("value") or [] if isinstance(t, dict)]
        if len(threads) > MAX_THREADS:
            from cievents import log

            log.logger.warning(
                "list stopped at its bound: later threads were not read",
                what=f"azure-repos: threads of PR {pr.number}",
                limit=MAX_THREADS,
            )
        return threads[:MAX_THREADS]

    @staticmethod
    def _first(thread: dict[str, Any]) -> dict[str, Any]:
        comments = [c for c in thread.get("comments") or [] if isinstance(c, dict)]
        return comments[0] if comments else {}

    def upsert_comment(
        self, pr: PullRequest, key: str, body: str, *, create: bool = True
    ) -> str | None:
        """One thread per PR and key; its first comment is edited in place."""
        marker = self.marker(key)
        text = f"{body}\n\n{marker}"
        for thread in self._threads(pr):
            first = self._first(thread)
            if marker in str(first.get("content")) and not thread.get("isDeleted"):
                if first.get("content") != text:
                    self._send(
                        "PATCH",
                        f"{self._pr(pr)}/threads/{thread['id']}/comments/{first['id']}",
                        {"content": text},
                        f"azure-repos: comment in thread {thread['id']}",
                    )
                return str(thread["id"])
        if not create:
            return None
        answer = self._send(
            "POST",
            f"{self._pr(pr)}/threads",
            {
                "comments": [{"parentCommentId": 0, "content": text, "commentType": "text"}],
                "status": "active",
                "properties": {"cievents.key": {"$type": "System.String", "$value": key}},
            },
            f"azure-repos: thread on PR {pr.number}",
        )
        return str(answer["id"])

    def sync_line_threads(
        self, pr: PullRequest, name: str, annotations: tuple[Annotation, ...]
    ) -> tuple[int, int]:
        """One thread per annotation on its line (right side); those whose annotation is
        gone are set ``fixed``, one that comes back ``active``. Returns (opened, closed)."""
        prefix = f"<!-- cievents:{name}:"
        existing: dict[str, dict[str, Any]] = {}
        for thread in self._threads(pr):
            content = str(self._first(thread).get("content"))
            if prefix in content:
                key = content.split(prefix, 1)[1].split(" -->", 1)[0]
                existing[key] = thread
        opened = closed = 0
        wanted = {a.key or f"{a.path}:{a.line}": a for a in annotations}
        for key, a in wanted.items():
            found = existing.get(key)
            if found is None:
                path = a.path if a.path.startswith("/") else f"/{a.path}"
                self._send(
                    "POST",
                    f"{self._pr(pr)}/threads",
                    {
                        "comments": [
                            {
                                "parentCommentId": 0,
                                "content": f"**{a.title or name}**: {a.message}"
                                f"\n\n{prefix}{key} -->",
                                "commentType": "text",
                            }
                        ],
                        "status": "active",
                        "threadContext": {
                            "filePath": path,
                            "rightFileStart": {"line": a.line, "offset": 1},
                            "rightFileEnd": {"line": a.end_line or a.line, "offset": 1},
                        },
                    },
                    f"azure-repos: line thread on {a.path}:{a.line}",
                )
                opened += 1
            elif found.get("status") not in ("active", "pending"):
                self._thread_status(pr, found, "active")
        for key, thread in existing.items():
            if key not in wanted and thread.get("status") in ("active", "pending"):
                self._thread_status(pr, thread, "fixed")
                closed += 1
        return opened, closed

    def _thread_status(self, pr: PullRequest, thread: dict[str, Any], status: str) -> None:
        self._send(
            "PATCH",
            f"{self._pr(pr)}/threads/{thread['id']}",
            {"status": status},
            f"azure-repos: thread {thread['id']} {status}",
        )

    # -- reading the PR ------------------------------------------------------------
    def pull_request(self, pr: PullRequest) -> HeadInfo:
        if not self.can_read:
            raise NotScannedError("no credentials for Azure Repos")
        body = self._get(self._pr(pr), f"azure-repos: pull request {pr.number}")
        iterations = self._get(
            f"{self._pr(pr)}/iterations", f"azure-repos: iterations of {pr.number}"
        )
        latest = max(
            (i for i in iterations.get("value") or [] if isinstance(i, dict)),
            key=lambda i: int(i.get("id") or 0),
            default={},
        )
        head = (latest.get("sourceRefCommit") or {}).get("commitId") or (
            body.get("lastMergeSourceCommit") or {}
        ).get("commitId")
        return HeadInfo(
            head_sha=str(head),
            base_sha=(latest.get("commonRefCommit") or {}).get("commitId")
            or (body.get("lastMergeTargetCommit") or {}).get("commitId"),
            iteration=int(latest["id"]) if latest.get("id") else None,
            state=str(body.get("status") or "active"),
        )

    def _blob(self, pr: PullRequest, object_id: str | None, budget: int) -> tuple[str, int] | None:
        """A blob's text and size, or None when it is over ``budget`` bytes."""
        if not object_id:
            return "", 0
        response = self.api.get(
            f"{self._repo(pr.repository)}/blobs/{object_id}",
            params={"api-version": API_VERSION, "$format": "octetstream"},
            headers={"Accept": "application/octet-stream"},
            stream=True,
            what=f"azure-repos: blob {object_id[:7]}",
        )
        data = bytearray()
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                data += chunk
                if len(data) > budget:
                    return None
        finally:
            response.close()
        return bytes(data).decode("utf-8", errors="replace"), len(data)

    def added_lines(self, pr: PullRequest, head: HeadInfo, max_bytes: int) -> AddedLines:
        if not self.can_read:
            raise NotScannedError("no credentials for Azure Repos")
        out = AddedLines()
        if head.iteration is None:
            out.cut("Azure Repos reported no iteration for the PR: nothing could be compared")
            return out
        changes: list[dict[str, Any]] = []
        skip, pages = 0, 0
        path = f"{self._pr(pr)}/iterations/{head.iteration}/changes"
        while True:
            if pages >= self.max_pages:
                out.cut("more changed files than the page bound: the rest not scanned")
                break
            page = self._get(
                path,
                f"azure-repos: changes of PR {pr.number}",
                **{"$top": CHANGES_PER_PAGE, "$skip": skip, "$compareTo": 0},
            )
            pages += 1
            changes.extend(c for c in page.get("changeEntries") or [] if isinstance(c, dict))
            if not page.get("nextSkip"):
                break
            skip = int(page["nextSkip"])
        for change in changes:
            kind = str(change.get("changeType") or "")
            item = change.get("item") or {}
            if "delete" in kind or item.get("isFolder") or item.get("gitObjectType") == "tree":
                continue
            name = str(item.get("path") or "").lstrip("/")
            budget = max_bytes - out.size
            new = self._blob(pr, item.get("objectId"), budget)
            old = (
                self._blob(pr, item.get("originalObjectId"), budget - (new[1] if new else 0))
                if new is not None and "add" not in kind
                else ("", 0)
            )
            if new is None or old is None:
                out.cut(f"diff over {max_bytes} bytes: {name} and later files were not scanned")
                break
            out.size += new[1] + old[1]
            out.add(name, added_by_versions(old[0], new[0]))
        return out
