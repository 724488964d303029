"""Bitbucket Cloud: a pull request's state from the 2.0 REST API (scopes ``pullrequest``,
``repository``; ``pullrequest:write`` and ``repository:write`` for the comment and status).

Calls (each only when a check needs it): ``GET /repositories/{ws}/{repo}/pullrequests/{id}``
(participants carry the approvals and their time); ``…/commits`` (parents; the newest
commit's date stands in for the last push, which Bitbucket does not report);
``…/diffstat`` (files and lines); ``GET …/commit/{sha}/statuses``; ``GET …/commit/{sha}/
pullrequests`` for a status event's commit. Bitbucket Cloud exposes neither group
membership nor code owners through its API: those checks fail and say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cievents.compliance.api import Api
from cievents.compliance.state import (
    CheckState,
    Commit,
    Needs,
    PullRequestState,
    PullState,
    Review,
    ReviewState,
    StatusCheck,
)
from cievents.sources._common import dig, lenient_time, s

__all__ = ["BitbucketFetcher", "parse_commits", "parse_pull", "parse_statuses", "user_key"]

_STATES: Mapping[str, CheckState] = {
    "SUCCESSFUL": "success",
    "FAILED": "failure",
    "STOPPED": "failure",
    "INPROGRESS": "pending",
}


def user_key(user: Any) -> str:
    """How policies name a Bitbucket user: the nickname, else the display name."""
    return (
        s(dig(user, "nickname")) or s(dig(user, "display_name")) or s(dig(user, "account_id")) or ""
    )


def _aliases(user: Any) -> frozenset[str]:
    return frozenset(
        v
        for v in (s(dig(user, k)) for k in ("display_name", "account_id", "uuid", "nickname"))
        if v
    )


def parse_pull(body: Mapping[str, Any]) -> PullRequestState:
    raw_state = str(body.get("state") or "OPEN")
    states: dict[str, PullState] = {
        "MERGED": "merged",
        "DECLINED": "closed",
        "SUPERSEDED": "closed",
    }
    state = states.get(raw_state, "open")
    author = body.get("author")
    reviews = []
    aliases = {user_key(author): _aliases(author)} if author else {}
    for p in body.get("participants") or []:
        if not isinstance(p, Mapping) or not user_key(p.get("user")):
            continue
        name = user_key(p.get("user"))
        aliases[name] = _aliases(p.get("user"))
        review_state: ReviewState | None = (
            "approved"
            if p.get("approved") or p.get("state") == "approved"
            else "changes_requested"
            if p.get("state") == "changes_requested"
            else None
        )
        if review_state:
            reviews.append(
                Review(
                    user=name,
                    state=review_state,
                    submitted_at=lenient_time(p.get("participated_on")),
                )
            )
    return PullRequestState(
        scm="bitbucket",
        repository=str(dig(body, "destination", "repository", "full_name") or ""),
        number=int(body["id"]),
        title=s(body.get("title")) or "",
        description=s(body.get("description")) or "",
        author=user_key(author),
        source_branch=s(dig(body, "source", "branch", "name")) or "",
        target_branch=s(dig(body, "destination", "branch", "name")) or "",
        head_sha=str(dig(body, "source", "commit", "hash") or ""),
        state=state,
        draft=bool(body.get("draft")),
        url=s(dig(body, "links", "html", "href")),
        merged_at=lenient_time(body.get("updated_on")) if state == "merged" else None,
        merge_commit=s(dig(body, "merge_commit", "hash")),
        reviews=tuple(reviews),
        aliases=aliases,
    )


def parse_commits(items: Sequence[Any]) -> tuple[Commit, ...]:
    return tuple(
        Commit(
            sha=str(c["hash"]),
            parents=len(c["parents"]) if isinstance(c.get("parents"), list) else None,
            date=lenient_time(c.get("date")),
        )
        for c in items
        if isinstance(c, Mapping) and c.get("hash")
    )


def parse_statuses(items: Sequence[Any]) -> tuple[StatusCheck, ...]:
    """A build status answers to its ``key`` and to its ``name`` (tools set either)."""
    out: dict[str, StatusCheck] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        state = _STATES.get(str(item.get("state")), "pending")
        for name in {s(item.get("key")), s(item.get("name"))} - {None}:
            out.setdefault(str(name), StatusCheck(str(name), state))
    return tuple(out.values())


class BitbucketFetcher:
    scm = "bitbucket"

    def __init__(self, api: Api, repository: str) -> None:
        self.api = api
        self.repo = repository

    def pulls_for_commit(self, sha: str) -> list[int]:
        page = self.api.pages(
            f"/repositories/{self.repo}/commit/{sha}/pullrequests",
            paging="next",
            what=f"bitbucket: pull requests of {sha[:7]}",
        )
        return [
            int(p["id"])
            for p in page.items
            if isinstance(p, Mapping) and p.get("state", "OPEN") == "OPEN"
        ]

    def fetch(self, number: int, needs: Needs) -> PullRequestState:
        base = f"/repositories/{self.repo}/pullrequests/{number}"
        state = parse_pull(self.api.get(base, what=f"bitbucket: {self.repo}#{number}"))
        changes: dict[str, Any] = {"repository": self.repo}
        unsupported: dict[str, str] = {}
        if needs.commits:
            page = self.api.pages(f"{base}/commits", paging="next", what="bitbucket: commits")
            commits = parse_commits(page.items)
            changes["commits"] = commits
            changes["commits_truncated"] = page.truncated
            changes["last_push_at"] = max((c.date for c in commits if c.date), default=None)
        if needs.files:
            page = self.api.pages(f"{base}/diffstat", paging="next", what="bitbucket: diffstat")
            stats = [d for d in page.items if isinstance(d, Mapping)]
            paths = [str(dig(d, "new", "path") or dig(d, "old", "path")) for d in stats]
            changes["files"] = tuple(paths)
            if page.truncated:
                unsupported["files"] = "the diffstat is longer than SCM_MAX_PAGES pages"
            else:
                changes["files_count"] = len(paths)
                changes["lines_changed"] = sum(
                    int(d.get("lines_added") or 0) + int(d.get("lines_removed") or 0) for d in stats
                )
        if needs.statuses:
            sha = state.head_sha
            page = self.api.pages(
                f"/repositories/{self.repo}/commit/{sha}/statuses",
                paging="next",
                what=f"bitbucket: statuses of {sha[:7]}",
            )
            changes["statuses"] = parse_statuses(page.items)
        for group in needs.groups:
            unsupported[f"group:{group}"] = "Bitbucket Cloud's API does not expose group members"
        if needs.code_owners:
            unsupported["code_owners"] = "Bitbucket Cloud's API does not expose code owners"
        changes["unsupported"] = unsupported
        return replace(state, **changes)
