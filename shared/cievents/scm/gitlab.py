"""GitLab (gitlab.com and self-managed): MR notes, line discussions, commit statuses, MR diffs.

GitLab has no check-run object; the check is emulated with a commit status
(``name`` = the check name, which "pipelines must succeed" and external status
checks can require) plus one discussion per annotation on the offending line of
the MR's diff, resolved when the annotation is gone on a later head.

REST shapes: https://docs.gitlab.com/api/ (commits: statuses; notes; discussions
with ``position``; merge_requests: ``/diffs``, ``/changes`` before 15.7).
Pagination: ``Link: rel="next"``, 100 a page.
"""

from __future__ import annotations

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
    dict_list,
    hidden_marker,
    link_next,
    paginate,
)
from cievents.scm.diff import AddedLines
from cievents.vcs.repo import Repository

__all__ = ["STATES", "GitLabClient"]

STATES = {
    "pending": "pending",
    "running": "running",
    "success": "success",
    "failure": "failed",
    "error": "canceled",
    "neutral": "skipped",
}


def project_id(path: str) -> str:
    return quote(path, safe="")


class GitLabClient:
    provider = "gitlab"

    def __init__(
        self,
        *,
        api_url: str = "https://gitlab.com/api/v4",
        token: str | None,
        outbox: Outbox | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        headers = {"PRIVATE-TOKEN": token} if token else {}
        self._token = token
        self.max_pages = max_pages
        self.api = HttpClient(
            sink="gitlab", base_url=api_url, headers=headers, credential="GITLAB_TOKEN"
        )
        self.http = HttpClient(
            credential="GITLAB_TOKEN",
            sink="gitlab",
            base_url=api_url,
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda *_: {"id": 1},
        )

    @property
    def can_read(self) -> bool:
        return bool(self._token)

    def marker(self, key: str) -> str:
        return hidden_marker(key)

    def _mr(self, pr: PullRequest) -> str:
        return f"/projects/{project_id(pr.repository.path)}/merge_requests/{pr.number}"

    def _list(self, path: str, what: str) -> list[dict[str, Any]]:
        if not self.can_read:
            return []
        return list(
            paginate(
                self.api,
                path,
                params={"per_page": 100},
                items=dict_list(None),
                next_page=link_next,
                max_pages=self.max_pages,
                what=what,
            )
        )

    # -- statuses and the emulated check -------------------------------------------
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
        body = {"state": STATES[state], "name": context, "description": description[:255]}
        if target_url:
            body["target_url"] = target_url
        self.http.post(
            f"/projects/{project_id(path)}/statuses/{sha}",
            json_body=body,
            what=f"gitlab: status {context} on {path}@{sha[:7]}",
        )

    def publish_check(self, pr: PullRequest, report: CheckReport, head: HeadInfo) -> Published:
        self.set_status(
            pr.repository,
            head.head_sha,
            report.state,
            report.name,
            report.title,
            report.details_url or pr.url,
        )
        opened, resolved = self.sync_line_discussions(pr, report.name, report.annotations, head)
        return Published(
            ("commit_status", "discussions"),
            head.head_sha,
            ids={"discussions_opened": str(opened), "discussions_resolved": str(resolved)},
        )

    def sync_line_discussions(
        self, pr: PullRequest, name: str, annotations: tuple[Annotation, ...], head: HeadInfo
    ) -> tuple[int, int]:
        """One resolvable discussion per annotation on its line; those whose annotation is
        gone are resolved, one that comes back is reopened. Returns (opened, resolved)."""
        mr = self._mr(pr)
        prefix = f"<!-- cievents:{name}:"
        existing: dict[str, dict[str, Any]] = {}
        for d in self._list(
            f"{mr}/discussions", f"gitlab: discussions of {pr.repository.path}!{pr.number}"
        ):
            notes = [n for n in d.get("notes") or [] if isinstance(n, dict)]
            if notes and prefix in str(notes[0].get("body")):
                key = str(notes[0]["body"]).split(prefix, 1)[1].split(" -->", 1)[0]
                existing[key] = {"id": d.get("id"), "resolved": bool(notes[0].get("resolved"))}
        opened = resolved = 0
        wanted = {a.key or f"{a.path}:{a.line}": a for a in annotations}
        for key, a in wanted.items():
            found = existing.get(key)
            if found is None:
                body = f"**{a.title or name}**: {a.message}\n\n{prefix}{key} -->"
                position = {
                    "position_type": "text",
                    "base_sha": head.base_sha,
                    "start_sha": head.start_sha or head.base_sha,
                    "head_sha": head.head_sha,
                    "new_path": a.path,
                    "old_path": a.path,
                    "new_line": a.line,
                }
                self.http.post(
                    f"{mr}/discussions",
                    json_body={"body": body, "position": position},
                    what=f"gitlab: line discussion on {a.path}:{a.line}",
                )
                opened += 1
            elif found["resolved"]:
                self._resolve(mr, str(found["id"]), False)
        for key, found in existing.items():
            if key not in wanted and not found["resolved"]:
                self._resolve(mr, str(found["id"]), True)
                resolved += 1
        return opened, resolved

    def _resolve(self, mr: str, discussion: str, resolved: bool) -> None:
        self.http.put(
            f"{mr}/discussions/{discussion}",
            params={"resolved": "true" if resolved else "false"},
            what=f"gitlab: {'resolve' if resolved else 'reopen'} discussion {discussion}",
        )

    # -- the summary note ----------------------------------------------------------
    def upsert_comment(
        self, pr: PullRequest, key: str, body: str, *, create: bool = True
    ) -> str | None:
        mr, marker = self._mr(pr), self.marker(key)
        text = f"{body}\n\n{marker}"
        notes = [
            n
            for n in self._list(f"{mr}/notes", f"gitlab: notes of {pr.repository.path}!{pr.number}")
            if marker in str(n.get("body")) and not n.get("system")
        ]
        if notes:
            note_id = str(notes[0]["id"])
            if notes[0].get("body") != text:
                self.http.put(
                    f"{mr}/notes/{note_id}",
                    json_body={"body": text},
                    what=f"gitlab: note {note_id}",
                )
            return note_id
        if not create:
            return None
        answer = self.http.post(
            f"{mr}/notes", json_body={"body": text}, what=f"gitlab: note on !{pr.number}"
        )
        return str(answer.json()["id"])

    # -- reading the MR ------------------------------------------------------------
    def pull_request(self, pr: PullRequest) -> HeadInfo:
        if not self.can_read:
            raise NotScannedError("no credentials for GitLab")
        body = self.api.get(
            self._mr(pr), what=f"gitlab: merge request {pr.repository.path}!{pr.number}"
        ).json()
        refs = body.get("diff_refs") or {}
        return HeadInfo(
            head_sha=str(body.get("sha") or refs.get("head_sha")),
            base_sha=refs.get("base_sha"),
            start_sha=refs.get("start_sha"),
            state=str(body.get("state") or "opened"),
        )

    def added_lines(self, pr: PullRequest, head: HeadInfo, max_bytes: int) -> AddedLines:
        """Added lines from ``/diffs`` (one entry per file, paginated; ``/changes`` on GitLab
        before 15.7). Files GitLab marks ``too_large`` or collapses make it ``truncated``."""
        if not self.can_read:
            raise NotScannedError("no credentials for GitLab")
        mr, out = self._mr(pr), AddedLines()
        probe = self.api.get(
            f"{mr}/diffs",
            params={"per_page": 100},
            ok_statuses=(404,),
            what=f"gitlab: diffs of {pr.repository.path}!{pr.number}",
        )
        if probe.status_code == 404:
            body = self.api.get(f"{mr}/changes", what=f"gitlab: changes of !{pr.number}").json()
            if body.get("overflow"):
                out.cut("GitLab cut the MR's changes (overflow): not every file was scanned")
            entries: Any = body.get("changes") or []
        else:
            first = probe.json()

            def pages() -> Any:
                yield from first
                nxt = link_next(probe, first)
                if nxt:
                    yield from paginate(
                        self.api,
                        nxt[0],
                        items=dict_list(None),
                        next_page=link_next,
                        max_pages=self.max_pages - 1,
                        what=f"gitlab: diffs of !{pr.number}",
                        on_bound=lambda: out.cut(
                            "more files than the page bound: rest not scanned"
                        ),
                    )

            entries = pages()
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("deleted_file"):
                continue
            path = str(entry.get("new_path"))
            diff = str(entry.get("diff") or "")
            if entry.get("too_large") or (entry.get("collapsed") and not diff):
                out.cut(f"GitLab sent no diff for {path} (too large): not scanned")
                continue
            if not out.add_patch(path, diff, max_bytes):
                break
        return out
