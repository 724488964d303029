"""Bitbucket Cloud (PR comments, Code Insights, build statuses, PR diffs) and Bitbucket
Data Center (build statuses).

Cloud: the check is a Code Insights report (``report_type: SECURITY``, one per
commit and check, ``result`` PASSED/FAILED) whose annotations sit on the
offending lines, plus a build status of the same name that "minimum successful
builds" merge checks count. Comments are Markdown; the marker is a link
reference definition (``[//]: # (cievents:KEY)``), which Markdown renders as
nothing, since Bitbucket shows HTML comments as text.

REST shapes: https://developer.atlassian.com/cloud/bitbucket/rest/ (pullrequests:
comments, ``/diff``; commit statuses: ``statuses/build``; reports: PUT
``reports/{id}``, POST ``reports/{id}/annotations``, at most 100 a request and
1000 a report). Pagination: the page's ``next`` URL, ``pagelen`` up to 100.

Data Center: ``POST /rest/api/latest/projects/{key}/repos/{slug}/commits/{sha}/builds``
(Bitbucket Server 7.4 and later), with an HTTP access token.
"""

from __future__ import annotations

import base64
import re
from typing import Any

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
    dict_list,
    json_next,
    paginate,
)
from cievents.scm.diff import AddedLines, from_stream
from cievents.vcs.repo import Repository

__all__ = ["STATES", "BitbucketClient", "BitbucketServerClient"]

STATES = {
    "pending": "INPROGRESS",
    "running": "INPROGRESS",
    "success": "SUCCESSFUL",
    "failure": "FAILED",
    "error": "STOPPED",
    "neutral": "STOPPED",
}
SERVER_STATES = {**STATES, "error": "FAILED", "neutral": "SUCCESSFUL"}
REPORT_RESULTS = {"pending": "PENDING", "success": "PASSED", "neutral": "PASSED"}
ANNOTATIONS_PER_REQUEST = 100
ANNOTATIONS_PER_REPORT = 1000
SEVERITY = {"failure": "HIGH", "warning": "MEDIUM", "notice": "LOW"}

CREDENTIAL = "BITBUCKET_TOKEN or BITBUCKET_USERNAME + BITBUCKET_APP_PASSWORD"


def report_id(name: str) -> str:
    """A Code Insights report id from a check name: ``cievents/secret-scan`` →
    ``cievents-secret-scan``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def _auth_headers(
    username: str | None, app_password: str | None, token: str | None
) -> dict[str, str]:
    if token:
        return {"Authorization": f"Bearer {token}"}
    if username and app_password:
        encoded = base64.b64encode(f"{username}:{app_password}".encode()).decode()
        return {"Authorization": f"Basic {encoded}"}
    return {}


class BitbucketClient:
    provider = "bitbucket"

    def __init__(
        self,
        *,
        api_url: str = "https://api.bitbucket.org/2.0",
        username: str | None = None,
        app_password: str | None = None,
        token: str | None = None,
        outbox: Outbox | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        headers = _auth_headers(username, app_password, token)
        self._has_credentials = bool(headers)
        self.max_pages = max_pages
        self.api = HttpClient(
            sink="bitbucket", base_url=api_url, headers=headers, credential=CREDENTIAL
        )
        self.http = HttpClient(
            credential=CREDENTIAL,
            sink="bitbucket",
            base_url=api_url,
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda *_: {"id": 1, "key": "x"},
        )

    @property
    def can_read(self) -> bool:
        return self._has_credentials

    def marker(self, key: str) -> str:
        return f"[//]: # (cievents:{key})"

    def _pr(self, pr: PullRequest) -> str:
        return f"/repositories/{pr.repository.path}/pullrequests/{pr.number}"

    # -- statuses and Code Insights ------------------------------------------------
    def set_status(
        self,
        repo: Repository | str,
        sha: str,
        state: str,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        path = repo.path if isinstance(repo, Repository) else repo
        body = {
            "key": context[:40],
            "name": context,
            "state": STATES[state],
            "url": target_url or f"https://bitbucket.org/{path}/commits/{sha}",
            "description": description[:255],
        }
        # Bitbucket overwrites the status with the same key: the POST is idempotent.
        self.http.post(
            f"/repositories/{path}/commit/{sha}/statuses/build",
            json_body=body,
            idempotent=True,
            what=f"bitbucket: status {context} on {path}@{sha[:7]}",
        )

    def publish_check(self, pr: PullRequest, report: CheckReport, head: HeadInfo) -> Published:
        repo, sha, rid = pr.repository.path, head.head_sha, report_id(report.name)
        base = f"/repositories/{repo}/commit/{sha}/reports/{rid}"
        body: dict[str, Any] = {
            "title": report.name,
            "details": (report.title + ("\n\n" + report.summary if report.summary else ""))[:2000],
            "report_type": "SECURITY",
            "reporter": "cievents",
            "result": REPORT_RESULTS.get(report.state, "FAILED"),
            "data": [
                {"title": "Findings", "type": "NUMBER", "value": len(report.annotations)},
            ],
        }
        if report.details_url:
            body["link"] = report.details_url
        self.http.put(base, json_body=body, what=f"bitbucket: report {rid} on {repo}@{sha[:7]}")
        annotations = [_annotation(a, i) for i, a in enumerate(report.annotations)]
        kept = annotations[:ANNOTATIONS_PER_REPORT]
        # Annotations are keyed by external_id: posting them again updates, never duplicates.
        for i in range(0, len(kept), ANNOTATIONS_PER_REQUEST):
            self.http.post(
                f"{base}/annotations",
                json_body=kept[i : i + ANNOTATIONS_PER_REQUEST],
                what=f"bitbucket: annotations of report {rid}",
            )
        self.set_status(
            pr.repository,
            sha,
            report.state,
            report.name,
            report.title,
            report.details_url or pr.url,
        )
        note = (
            f"{len(annotations) - len(kept)} annotation(s) over Bitbucket's "
            f"{ANNOTATIONS_PER_REPORT} per report not sent"
            if len(annotations) > len(kept)
            else None
        )
        return Published(
            ("code_insights_report", "build_status"), sha, note=note, ids={"report": rid}
        )

    # -- comments ------------------------------------------------------------------
    def upsert_comment(
        self, pr: PullRequest, key: str, body: str, *, create: bool = True
    ) -> str | None:
        marker = self.marker(key)
        text = f"{body}\n\n{marker}"
        existing = []
        if self.can_read:
            existing = [
                c
                for c in paginate(
                    self.api,
                    f"{self._pr(pr)}/comments",
                    params={"pagelen": 100},
                    items=dict_list("values"),
                    next_page=json_next,
                    max_pages=self.max_pages,
                    what=f"bitbucket: comments of {pr.repository.path}#{pr.number}",
                )
                if not c.get("deleted") and marker in str((c.get("content") or {}).get("raw"))
            ]
        if existing:
            comment_id = str(existing[0]["id"])
            if (existing[0].get("content") or {}).get("raw") != text:
                self.http.put(
                    f"{self._pr(pr)}/comments/{comment_id}",
                    json_body={"content": {"raw": text}},
                    what=f"bitbucket: comment {comment_id}",
                )
            return comment_id
        if not create:
            return None
        answer = self.http.post(
            f"{self._pr(pr)}/comments",
            json_body={"content": {"raw": text}},
            what=f"bitbucket: comment on {pr.repository.path}#{pr.number}",
        )
        return str(answer.json()["id"])

    # -- reading the PR ------------------------------------------------------------
    def pull_request(self, pr: PullRequest) -> HeadInfo:
        if not self.can_read:
            raise NotScannedError("no credentials for Bitbucket")
        body = self.api.get(
            self._pr(pr), what=f"bitbucket: pull request {pr.repository.path}#{pr.number}"
        ).json()
        return HeadInfo(
            head_sha=str(body["source"]["commit"]["hash"]),
            base_sha=((body.get("destination") or {}).get("commit") or {}).get("hash"),
            state=str(body.get("state") or "OPEN"),
        )

    def added_lines(self, pr: PullRequest, head: HeadInfo, max_bytes: int) -> AddedLines:
        """Added lines of the PR's unified diff (``/diff`` redirects to the diff of its
        commits; streamed, at most ``max_bytes``)."""
        if not self.can_read:
            raise NotScannedError("no credentials for Bitbucket")
        response = self.api.get(
            f"{self._pr(pr)}/diff",
            headers={"Accept": "text/plain"},
            stream=True,
            what=f"bitbucket: diff of {pr.repository.path}#{pr.number}",
        )
        try:
            return from_stream(response.iter_content(chunk_size=64 * 1024), max_bytes)
        finally:
            response.close()


def _annotation(a: Annotation, index: int) -> dict[str, Any]:
    return {
        "external_id": (a.key or f"{a.path}:{a.line}:{index}")[:450],
        "annotation_type": "VULNERABILITY",
        "title": (a.title or "finding")[:255],
        "summary": a.message[:450],
        "severity": SEVERITY.get(a.level, "HIGH"),
        "result": "FAILED",
        "path": a.path,
        "line": a.line,
    }


class BitbucketServerClient:
    """Bitbucket Data Center / Server: build statuses on a commit (what github_status needs)."""

    provider = "bitbucket-server"

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        outbox: Outbox | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = HttpClient(
            sink="bitbucket-server",
            base_url=base_url,
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda *_: {},
        )

    def set_status(
        self,
        repo: Repository | str,
        sha: str,
        state: str,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        path = repo.path if isinstance(repo, Repository) else repo
        project, slug = path.split("/", 1)
        body = {
            "key": context[:255],
            "name": context,
            "state": SERVER_STATES[state],
            "url": target_url or "",
            "description": description[:255],
        }
        self.http.post(
            f"/rest/api/latest/projects/{project}/repos/{slug}/commits/{sha}/builds",
            json_body=body,
            what=f"bitbucket-server: build status {context} on {path}@{sha[:7]}",
        )
