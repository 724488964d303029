"""GitHub (and GitHub Enterprise Server): comments, commit statuses, check runs, PR diffs.

Auth is a token (``Authorization: Bearer``) or a GitHub App: a JWT (RS256,
signed with the App's private key, valid 9 minutes) is exchanged for an
installation access token, cached until five minutes before it expires. PyJWT
is imported only when an App is configured. Check runs need an App; with a
token, ``publish_check`` sets a commit status of the same name instead and
says so in ``Published.note``.

REST shapes: https://docs.github.com/en/rest (checks/runs, commits/statuses,
issues/comments, pulls: ``Accept: application/vnd.github.diff``, pulls/files).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cievents import clock, log
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
    hidden_marker,
    link_next,
    paginate,
)
from cievents.scm.diff import AddedLines, from_stream
from cievents.vcs.repo import Repository

__all__ = ["ANNOTATIONS_PER_REQUEST", "AppCredentials", "GitHubClient"]

ANNOTATIONS_PER_REQUEST = 50
MAX_DESCRIPTION = 140
CONCLUSIONS = {
    "success": "success",
    "failure": "failure",
    "error": "cancelled",
    "neutral": "neutral",
}
STATUS_STATES = {
    "pending": "pending",
    "success": "success",
    "failure": "failure",
    "error": "error",
    "neutral": "success",  # commit statuses have no neutral
}
NO_APP_NOTE = (
    "GitHub token without an App: check runs need a GitHub App, so a commit status "
    "was set instead (no line annotations; the lines are in the PR comment)"
)


@dataclass(frozen=True)
class AppCredentials:
    app_id: str
    private_key: str
    installation_id: str


class GitHubClient:
    provider = "github"

    def __init__(
        self,
        *,
        api_url: str = "https://api.github.com",
        token: str | None = None,
        app: AppCredentials | None = None,
        outbox: Outbox | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self._token = token
        self._app = app
        self._lock = threading.Lock()
        self._installation_token: tuple[str, float] | None = None
        # What the installation grants, as the access-token answer lists it (cievents check).
        self.installation_permissions: dict[str, str] = {}
        self.max_pages = max_pages
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        # Reads go to GitHub whenever there are credentials (a dry run still scans);
        # writes go to the outbox in a dry run.
        credential = (
            "the GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, GITHUB_APP_INSTALLATION_ID)"
            if app
            else "GITHUB_TOKEN"
        )
        self.api = HttpClient(
            sink="github", base_url=api_url, headers=headers, credential=credential
        )
        self.http = HttpClient(
            sink="github",
            credential=credential,
            base_url=api_url,
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda method, url, body: {"id": 1, "html_url": url},
        )

    @property
    def has_credentials(self) -> bool:
        return bool(self._token or self._app)

    @property
    def can_read(self) -> bool:
        return self.has_credentials

    @property
    def can_check_runs(self) -> bool:
        """Check runs need a GitHub App (or dry run, which records what it would do)."""
        return self._app is not None or (self.http.dry_run and not self._token)

    def marker(self, key: str) -> str:
        return hidden_marker(key)

    # -- auth ----------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        if self._app is not None:
            return {"Authorization": f"Bearer {self.installation_token()}"}
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        return {}

    def _write_auth(self) -> dict[str, str]:
        return {} if self.http.dry_run else self.auth_headers()

    def app_jwt(self, now: float | None = None) -> str:
        import jwt

        assert self._app is not None
        issued = int(clock.now() if now is None else now) - 60  # GitHub allows for clock drift
        payload = {"iat": issued, "exp": issued + 540, "iss": self._app.app_id}
        return str(jwt.encode(payload, self._app.private_key, algorithm="RS256"))

    def installation_token(self) -> str:
        assert self._app is not None
        with self._lock:
            cached = self._installation_token
            if cached and cached[1] - clock.now() > 300:
                return cached[0]
            response = self.api.post(
                f"/app/installations/{self._app.installation_id}/access_tokens",
                headers={"Authorization": f"Bearer {self.app_jwt()}"},
                what="github: installation access token",
                idempotent=True,  # another token for the same installation is harmless
            )
            body = self.api.json(response, "github: installation access token")
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            self._installation_token = (str(body["token"]), expires.timestamp())
            self.installation_permissions = {
                str(k): str(v) for k, v in (body.get("permissions") or {}).items()
            }
            log.register_secrets(self._installation_token[0])
            return self._installation_token[0]

    def _list(self, path: str, key: str | None, what: str, **params: Any) -> list[Any]:
        """Every item of a GitHub list (``Link`` pagination, 100 a page, bounded)."""
        return list(
            paginate(
                self.api,
                path,
                params={"per_page": 100, **params},
                headers=self.auth_headers(),
                items=dict_list(key),
                next_page=link_next,
                max_pages=self.max_pages,
                what=what,
            )
        )

    # -- statuses and checks -------------------------------------------------------
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
            "state": STATUS_STATES[state],
            "description": description[:MAX_DESCRIPTION],
            "context": context,
        }
        if target_url:
            body["target_url"] = target_url
        self.http.post(
            f"/repos/{path}/statuses/{sha}",
            json_body=body,
            headers=self._write_auth(),
            what=f"github: status {context} on {path}@{sha[:7]}",
        )

    def find_check_run(self, repo: str, sha: str, name: str) -> dict[str, Any] | None:
        """The newest check run of this App named ``name`` on ``sha``, if any."""
        runs = self._list(
            f"/repos/{repo}/commits/{sha}/check-runs",
            "check_runs",
            f"github: check runs on {repo}@{sha[:7]}",
            check_name=name,
            filter="latest",
        )
        return runs[0] if runs else None

    def upsert_check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        *,
        check_run_id: int | None,
        status: str,
        conclusion: str | None,
        details_url: str | None,
        title: str,
        summary: str,
        annotations: Sequence[dict[str, Any]] = (),
        external_id: str | None = None,
    ) -> int:
        """Create or update a check run; annotations are sent 50 per request, as GitHub requires
        (each update appends its annotations to the run's). ``external_id`` is set on a
        created run, so it can be found again when the answer to the create is lost."""
        chunks = [
            list(annotations[i : i + ANNOTATIONS_PER_REQUEST])
            for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
        ] or [[]]
        run_id = check_run_id
        for chunk in chunks:
            body: dict[str, Any] = {
                "name": name,
                "head_sha": sha,
                "status": status,
                "output": {"title": title, "summary": summary[:65535], "annotations": chunk},
            }
            if details_url:
                body["details_url"] = details_url
            if conclusion:
                body["conclusion"] = conclusion
            if run_id is None:
                if external_id:
                    body["external_id"] = external_id
                answer = self.http.post(
                    f"/repos/{repo}/check-runs",
                    json_body=body,
                    headers=self._write_auth(),
                    what=f"github: check run on {repo}",
                )
                run_id = int(self.http.json(answer, "github: check run")["id"])
            else:
                self.http.patch(
                    f"/repos/{repo}/check-runs/{run_id}",
                    json_body=body,
                    headers=self._write_auth(),
                    what=f"github: check run {run_id}",
                )
        assert run_id is not None
        return run_id

    def publish_check(self, pr: PullRequest, report: CheckReport, head: HeadInfo) -> Published:
        repo, sha = pr.repository.path, head.head_sha
        if not self.can_check_runs:
            self.set_status(
                pr.repository, sha, report.state, report.name, report.title, report.details_url
            )
            return Published(("commit_status",), sha, note=NO_APP_NOTE)
        wanted = [_annotation(a) for a in report.annotations]
        existing = self.find_check_run(repo, sha, report.name) if self.has_credentials else None
        run_id = int(existing["id"]) if existing else None
        # A redelivery finds the run it wrote: annotations already sent are not sent twice.
        done = int((existing or {}).get("output", {}).get("annotations_count") or 0)
        run_id = self.upsert_check_run(
            repo,
            sha,
            report.name,
            check_run_id=run_id,
            status="in_progress" if report.state == "pending" else "completed",
            conclusion=CONCLUSIONS.get(report.state),
            details_url=report.details_url,
            title=report.title,
            summary=report.summary,
            annotations=wanted[done:],
        )
        return Published(("check_run",), sha, ids={"check_run": str(run_id)})

    # -- comments ------------------------------------------------------------------
    def upsert_comment(
        self, pr: PullRequest, key: str, body: str, *, create: bool = True
    ) -> str | None:
        """One comment per PR and key, found again by its hidden marker and edited in place."""
        repo, marker = pr.repository.path, self.marker(key)
        text = f"{body}\n\n{marker}"
        existing = (
            [
                c
                for c in self._list(
                    f"/repos/{repo}/issues/{pr.number}/comments",
                    None,
                    f"github: comments of {repo}#{pr.number}",
                )
                if marker in str(c.get("body"))
            ]
            if self.has_credentials
            else []
        )
        if existing:
            comment_id = str(existing[0]["id"])
            if existing[0].get("body") != text:
                self.http.patch(
                    f"/repos/{repo}/issues/comments/{comment_id}",
                    json_body={"body": text},
                    headers=self._write_auth(),
                    what=f"github: comment {comment_id}",
                )
            return comment_id
        if not create:
            return None
        answer = self.http.post(
            f"/repos/{repo}/issues/{pr.number}/comments",
            json_body={"body": text},
            headers=self._write_auth(),
            what=f"github: comment on {repo}#{pr.number}",
        )
        return str(answer.json()["id"])

    # -- reading the PR ------------------------------------------------------------
    def pull_request(self, pr: PullRequest) -> HeadInfo:
        if not self.can_read:
            raise NotScannedError("no credentials for GitHub")
        repo = pr.repository.path
        body = self.api.get(
            f"/repos/{repo}/pulls/{pr.number}",
            headers=self.auth_headers(),
            what=f"github: pull request {repo}#{pr.number}",
        ).json()
        return HeadInfo(
            head_sha=str(body["head"]["sha"]),
            base_sha=str((body.get("base") or {}).get("sha") or "") or None,
            state=str(body.get("state") or "open"),
        )

    def added_lines(self, pr: PullRequest, head: HeadInfo, max_bytes: int) -> AddedLines:
        """The PR's added lines from its unified diff (streamed, at most ``max_bytes``); when
        GitHub refuses the diff as too large (406), from the files list, whose patches GitHub
        omits for big files (then ``truncated``)."""
        if not self.can_read:
            raise NotScannedError("no credentials for GitHub")
        repo = pr.repository.path
        response = self.api.get(
            f"/repos/{repo}/pulls/{pr.number}",
            headers={**self.auth_headers(), "Accept": "application/vnd.github.diff"},
            stream=True,
            ok_statuses=(406,),
            what=f"github: diff of {repo}#{pr.number}",
        )
        if response.status_code == 406:
            response.close()
            return self._added_from_files(repo, pr.number, max_bytes, AddedLines())
        try:
            return from_stream(response.iter_content(chunk_size=64 * 1024), max_bytes)
        finally:
            response.close()

    def _added_from_files(
        self, repo: str, number: int, max_bytes: int, out: AddedLines
    ) -> AddedLines:
        files = paginate(
            self.api,
            f"/repos/{repo}/pulls/{number}/files",
            params={"per_page": 100},
            headers=self.auth_headers(),
            items=dict_list(None),
            next_page=link_next,
            max_pages=self.max_pages,
            what=f"github: files of {repo}#{number}",
            on_bound=lambda: out.cut(
                "more changed files than the page bound: the rest not scanned"
            ),
        )
        for f in files:
            patch = f.get("patch")
            name = str(f.get("filename"))
            if f.get("status") == "removed":
                continue
            if patch is None:
                out.cut(f"GitHub sent no patch for {name} (too large): not scanned")
                continue
            if not out.add_patch(name, str(patch), max_bytes):
                break
        return out


def _annotation(a: Annotation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": a.path,
        "start_line": a.line,
        "end_line": a.end_line or a.line,
        "annotation_level": a.level if a.level in ("failure", "warning", "notice") else "failure",
        "message": a.message[: 64 * 1024],
    }
    if a.title:
        out["title"] = a.title[:255]
    return out
