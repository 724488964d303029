"""GitLab: a merge request's state from the REST API v4 (a token with ``read_api``; ``api``
to write the note and status).

Calls (each only when a check needs it): ``GET /projects/:id/merge_requests/:iid``;
``…/approvals`` (who approved); with ``exclude_stale``, ``…/notes`` (the system notes that
time each approval) and ``…/versions`` (when the last push landed); ``…/commits`` and
``GET /projects/:id/repository/commits/:sha`` (parents, for merge commits; bounded);
``…/diffs`` (files and lines); ``…/approval_state`` (code-owner rules, GitLab Premium);
``GET /projects/:id/repository/commits/:sha/statuses``; ``GET /groups/:id/members/all``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cievents.compliance.api import Api
from cievents.compliance.state import (
    CheckState,
    CodeOwners,
    Commit,
    Needs,
    PullRequestState,
    PullState,
    Review,
    StatusCheck,
)
from cievents.errors import RejectedError, UnknownTargetError
from cievents.sources._common import dig, lenient_time, s

__all__ = [
    "GitLabFetcher",
    "approval_times",
    "count_diff_lines",
    "parse_approvals",
    "parse_merge_request",
    "parse_statuses",
]

_STATUS: Mapping[str, CheckState] = {
    "success": "success",
    "failed": "failure",
    "canceled": "failure",
    "skipped": "neutral",
    "manual": "pending",
    "pending": "pending",
    "running": "pending",
    "created": "pending",
    "waiting_for_resource": "pending",
    "preparing": "pending",
    "scheduled": "pending",
}
MAX_COMMIT_LOOKUPS = 50


def parse_merge_request(body: Mapping[str, Any]) -> PullRequestState:
    raw_state = str(body.get("state") or "opened")
    state: PullState = (
        "merged" if raw_state == "merged" else "closed" if raw_state == "closed" else "open"
    )
    changes = str(body.get("changes_count") or "")
    return PullRequestState(
        scm="gitlab",
        repository=str(dig(body, "references", "full") or "").split("!", 1)[0],
        number=int(body["iid"]),
        title=s(body.get("title")) or "",
        description=s(body.get("description")) or "",
        author=s(dig(body, "author", "username")) or "",
        source_branch=s(body.get("source_branch")) or "",
        target_branch=s(body.get("target_branch")) or "",
        head_sha=str(body.get("sha") or dig(body, "diff_refs", "head_sha") or ""),
        state=state,
        draft=bool(body.get("draft") or body.get("work_in_progress")),
        url=s(body.get("web_url")),
        merged_at=lenient_time(body.get("merged_at")),
        merge_commit=s(body.get("merge_commit_sha")) or s(body.get("squash_commit_sha")),
        # "1000+" when GitLab stopped counting: the diffs list gives the real figure.
        files_count=int(changes) if changes.isdigit() else None,
    )


def parse_approvals(body: Mapping[str, Any]) -> tuple[Review, ...]:
    return tuple(
        Review(user=str(dig(a, "user", "username")), state="approved")
        for a in body.get("approved_by") or []
        if isinstance(a, Mapping) and dig(a, "user", "username")
    )


def approval_times(notes: Sequence[Any]) -> dict[str, datetime]:
    """When each user last approved, from the system notes GitLab writes ("approved this
    merge request"); an "unapproved" note after it clears the time."""
    times: dict[str, datetime] = {}
    for note in sorted(
        (n for n in notes if isinstance(n, Mapping) and n.get("system")),
        key=lambda n: str(n.get("created_at") or ""),
    ):
        user = s(dig(note, "author", "username"))
        body = str(note.get("body") or "").strip().lower()
        when = lenient_time(note.get("created_at"))
        if not user or when is None:
            continue
        if body.startswith("approved this merge request"):
            times[user] = when
        elif body.startswith("unapproved this merge request"):
            times.pop(user, None)
    return times


def count_diff_lines(diffs: Sequence[Any]) -> int:
    total = 0
    for item in diffs:
        text = str(item.get("diff") or "") if isinstance(item, Mapping) else ""
        for line in text.splitlines():
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                total += 1
    return total


def parse_statuses(items: Sequence[Any]) -> tuple[StatusCheck, ...]:
    """The latest status per name (GitLab lists newest first; a retried job keeps its name)."""
    seen: dict[str, StatusCheck] = {}
    for item in items:
        if isinstance(item, Mapping) and s(item.get("name")) and item["name"] not in seen:
            seen[str(item["name"])] = StatusCheck(
                str(item["name"]), _STATUS.get(str(item.get("status")), "pending")
            )
    return tuple(seen.values())


class GitLabFetcher:
    scm = "gitlab"

    def __init__(self, api: Api, project: str) -> None:
        self.api = api
        self.project = project
        self.pid = quote(project, safe="")

    def pulls_for_commit(self, sha: str) -> list[int]:
        page = self.api.pages(
            f"/projects/{self.pid}/repository/commits/{sha}/merge_requests",
            paging="link",
            what=f"gitlab: merge requests of {sha[:7]}",
        )
        return [
            int(m["iid"])
            for m in page.items
            if isinstance(m, Mapping) and m.get("state") == "opened" and m.get("sha") == sha
        ]

    def fetch(self, number: int, needs: Needs) -> PullRequestState:
        base = f"/projects/{self.pid}/merge_requests/{number}"
        state = parse_merge_request(self.api.get(base, what=f"gitlab: {self.project}!{number}"))
        changes: dict[str, Any] = {"repository": self.project}
        unsupported: dict[str, str] = {}
        if needs.reviews:
            reviews = parse_approvals(self.api.get(f"{base}/approvals", what="gitlab: approvals"))
            if needs.commits:  # exclude_stale: time each approval and the last push
                notes = self.api.pages(
                    f"{base}/notes", {"sort": "desc", "order_by": "created_at"}, paging="link"
                )
                times = approval_times(notes.items)
                reviews = tuple(replace(r, submitted_at=times.get(r.user)) for r in reviews)
                versions = self.api.pages(f"{base}/versions", paging="link")
                pushed = [
                    lenient_time(v.get("created_at"))
                    for v in versions.items
                    if isinstance(v, Mapping)
                ]
                changes["last_push_at"] = max((p for p in pushed if p), default=None)
            changes["reviews"] = reviews
        if needs.commits:
            page = self.api.pages(f"{base}/commits", paging="link", what="gitlab: commits")
            commits = []
            for index, item in enumerate(c for c in page.items if isinstance(c, Mapping)):
                parents = item.get("parent_ids")
                if not isinstance(parents, list) and index < MAX_COMMIT_LOOKUPS:
                    detail = self.api.get(f"/projects/{self.pid}/repository/commits/{item['id']}")
                    parents = detail.get("parent_ids") if isinstance(detail, Mapping) else None
                commits.append(
                    Commit(
                        sha=str(item["id"]),
                        parents=len(parents) if isinstance(parents, list) else None,
                        date=lenient_time(item.get("created_at")),
                    )
                )
            changes["commits"] = tuple(commits)
            changes["commits_truncated"] = page.truncated or len(commits) > MAX_COMMIT_LOOKUPS
        if needs.files:
            diffs = self.api.pages(f"{base}/diffs", paging="link", what="gitlab: diffs")
            paths = [
                str(d.get("new_path") or d.get("old_path"))
                for d in diffs.items
                if isinstance(d, Mapping)
            ]
            changes["files"] = tuple(paths)
            changes["files_count"] = len(paths) if not diffs.truncated else state.files_count
            changes["lines_changed"] = None if diffs.truncated else count_diff_lines(diffs.items)
            if diffs.truncated:
                unsupported["files"] = "the diff is longer than SCM_MAX_PAGES pages"
        if needs.statuses:
            page = self.api.pages(
                f"/projects/{self.pid}/repository/commits/{state.head_sha}/statuses",
                paging="link",
                what="gitlab: commit statuses",
            )
            changes["statuses"] = parse_statuses(page.items)
        if needs.code_owners:
            changes["code_owners"] = self._code_owners(base, unsupported)
        members = {}
        for group in needs.groups:
            found = self._group(group, unsupported)
            if found is not None:
                members[group] = found
        changes["group_members"] = members
        changes["unsupported"] = unsupported
        return replace(state, **changes)

    def _code_owners(self, base: str, unsupported: dict[str, str]) -> CodeOwners | None:
        try:
            body = self.api.get(f"{base}/approval_state", what="gitlab: approval rules")
        except (RejectedError, UnknownTargetError):
            unsupported["code_owners"] = "code-owner approval rules need GitLab Premium"
            return None
        rules = [
            r
            for r in body.get("rules") or []
            if isinstance(r, Mapping) and r.get("rule_type") == "code_owner"
        ]
        owners = {
            str(r.get("section") or r.get("name")): tuple(
                str(u.get("username"))
                for u in r.get("eligible_approvers") or []
                if isinstance(u, Mapping)
            )
            for r in rules
        }
        return CodeOwners(
            owners=owners,
            satisfied=all(bool(r.get("approved")) for r in rules),
            source="GitLab code-owner approval rules",
        )

    def _group(self, group: str, unsupported: dict[str, str]) -> frozenset[str] | None:
        try:
            page = self.api.pages(
                f"/groups/{quote(group, safe='')}/members/all",
                paging="link",
                what=f"gitlab: members of {group}",
            )
        except (RejectedError, UnknownTargetError) as exc:
            unsupported[f"group:{group}"] = f"cannot read group {group}: {exc.message[:80]}"
            return None
        return frozenset(
            str(m["username"]) for m in page.items if isinstance(m, Mapping) and m.get("username")
        )
