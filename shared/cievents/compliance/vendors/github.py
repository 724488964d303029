"""GitHub: a pull request's state from the REST API (token or App installation token).

Calls (each only when a check needs it): ``GET /repos/{r}/pulls/{n}``; ``…/pulls/{n}/reviews``;
``…/pulls/{n}/commits`` (GitHub lists at most 250); ``…/pulls/{n}/files`` (code owners);
``GET /repos/{r}/commits/{sha}/status`` and ``…/check-runs``; ``GET /orgs/{o}/teams/{t}/members``;
``GET /repos/{r}/contents/{CODEOWNERS}?ref={base}``; ``GET /repos/{r}/commits/{sha}/pulls`` to
find the pull requests of a status event's commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cievents.compliance import codeowners
from cievents.compliance.api import Api
from cievents.compliance.state import (
    CheckState,
    CodeOwners,
    Commit,
    Needs,
    PullRequestState,
    PullState,
    Review,
    ReviewState,
    StatusCheck,
)
from cievents.errors import RejectedError, UnknownTargetError
from cievents.sources._common import dig, lenient_time, s

__all__ = ["GitHubFetcher", "parse_check_runs", "parse_commits", "parse_pull", "parse_reviews"]

_REVIEW_STATES: Mapping[str, ReviewState] = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "DISMISSED": "dismissed",
    "COMMENTED": "commented",
}
_STATUS: Mapping[str, CheckState] = {
    "success": "success",
    "failure": "failure",
    "error": "error",
    "pending": "pending",
}
_CONCLUSION: Mapping[str, CheckState] = {
    "success": "success",
    "neutral": "neutral",
    "skipped": "neutral",
    "failure": "failure",
    "timed_out": "failure",
    "cancelled": "failure",
    "action_required": "failure",
    "stale": "failure",
    "startup_failure": "failure",
}


def parse_pull(body: Mapping[str, Any]) -> PullRequestState:
    merged = bool(body.get("merged")) or body.get("merged_at") is not None
    state: PullState = "merged" if merged else "closed" if body.get("state") == "closed" else "open"
    additions, deletions = body.get("additions"), body.get("deletions")
    return PullRequestState(
        scm="github",
        repository=str(dig(body, "base", "repo", "full_name") or ""),
        number=int(body["number"]),
        title=s(body.get("title")) or "",
        description=s(body.get("body")) or "",
        author=s(dig(body, "user", "login")) or "",
        source_branch=s(dig(body, "head", "ref")) or "",
        target_branch=s(dig(body, "base", "ref")) or "",
        head_sha=str(dig(body, "head", "sha") or ""),
        state=state,
        draft=bool(body.get("draft")),
        url=s(body.get("html_url")),
        merged_at=lenient_time(body.get("merged_at")),
        merge_commit=s(body.get("merge_commit_sha")) if merged else None,
        files_count=body["changed_files"] if isinstance(body.get("changed_files"), int) else None,
        lines_changed=additions + deletions
        if isinstance(additions, int) and isinstance(deletions, int)
        else None,
    )


def parse_reviews(items: Sequence[Any]) -> tuple[Review, ...]:
    """The standing review per user: the latest approval, change request or dismissal wins;
    a later comment-only review does not withdraw an approval (GitHub's own rule)."""
    latest: dict[str, Review] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        user = s(dig(item, "user", "login"))
        state = _REVIEW_STATES.get(str(item.get("state")))
        if not user or state is None:
            continue  # PENDING reviews are drafts nobody else sees
        review = Review(
            user=user,
            state=state,
            submitted_at=lenient_time(item.get("submitted_at")),
            commit=s(item.get("commit_id")),
        )
        if state == "commented" and user in latest:
            continue
        latest[user] = review
    return tuple(latest.values())


def parse_commits(items: Sequence[Any]) -> tuple[Commit, ...]:
    return tuple(
        Commit(
            sha=str(c["sha"]),
            parents=len(c["parents"]) if isinstance(c.get("parents"), list) else None,
            date=lenient_time(dig(c, "commit", "committer", "date")),
        )
        for c in items
        if isinstance(c, Mapping) and c.get("sha")
    )


def parse_check_runs(runs: Sequence[Any]) -> tuple[StatusCheck, ...]:
    out = []
    for run in runs:
        if not isinstance(run, Mapping) or not s(run.get("name")):
            continue
        if run.get("status") != "completed":
            state: CheckState = "pending"
        else:
            state = _CONCLUSION.get(str(run.get("conclusion")), "failure")
        out.append(StatusCheck(str(run["name"]), state))
    return tuple(out)


def parse_statuses(combined: Mapping[str, Any]) -> tuple[StatusCheck, ...]:
    return tuple(
        StatusCheck(str(st["context"]), _STATUS.get(str(st.get("state")), "pending"))
        for st in combined.get("statuses") or []
        if isinstance(st, Mapping) and s(st.get("context"))
    )


class GitHubFetcher:
    scm = "github"

    def __init__(self, api: Api, repository: str) -> None:
        self.api = api
        self.repo = repository

    def pulls_for_commit(self, sha: str) -> list[int]:
        page = self.api.pages(
            f"/repos/{self.repo}/commits/{sha}/pulls",
            paging="link",
            what=f"github: pull requests of {self.repo}@{sha[:7]}",
        )
        return [
            int(p["number"])
            for p in page.items
            if isinstance(p, Mapping) and p.get("state") == "open" and dig(p, "head", "sha") == sha
        ]

    def fetch(self, number: int, needs: Needs) -> PullRequestState:
        base = f"/repos/{self.repo}/pulls/{number}"
        pull = self.api.get(base, what=f"github: {self.repo}#{number}")
        state = parse_pull(pull)
        changes: dict[str, Any] = {"repository": state.repository or self.repo}
        unsupported: dict[str, str] = {}
        if needs.reviews:
            page = self.api.pages(
                f"{base}/reviews", paging="link", what=f"github: reviews of #{number}"
            )
            changes["reviews"] = parse_reviews(page.items)
        if needs.commits:
            page = self.api.pages(
                f"{base}/commits", paging="link", what=f"github: commits of #{number}"
            )
            changes["commits"] = parse_commits(page.items)
            changes["commits_truncated"] = page.truncated or len(page.items) >= 250
        if needs.statuses:
            sha = state.head_sha
            combined = self.api.get(
                f"/repos/{self.repo}/commits/{sha}/status",
                {"per_page": 100},
                what=f"github: statuses of {sha[:7]}",
            )
            runs = self.api.pages(
                f"/repos/{self.repo}/commits/{sha}/check-runs",
                paging="link",
                items="check_runs",
                what=f"github: check runs of {sha[:7]}",
            )
            changes["statuses"] = parse_statuses(combined) + parse_check_runs(runs.items)
        files: list[str] = []
        if needs.code_owners:
            page = self.api.pages(
                f"{base}/files", paging="link", what=f"github: files of #{number}"
            )
            files = [
                str(f["filename"])
                for f in page.items
                if isinstance(f, Mapping) and f.get("filename")
            ]
            changes["files"] = tuple(files)
        groups = {g: self._team(g, unsupported) for g in needs.groups}
        if needs.code_owners:
            owners = self._code_owners(state.target_branch, files, unsupported)
            changes["code_owners"] = owners
            if owners is not None:
                for team in {
                    o.lstrip("@") for req in owners.owners.values() for o in req if "/" in o
                }:
                    groups.setdefault(team, self._team(team, unsupported))
        changes["group_members"] = {g: m for g, m in groups.items() if m is not None}
        changes["unsupported"] = unsupported
        from dataclasses import replace

        return replace(state, **changes)

    def _team(self, group: str, unsupported: dict[str, str]) -> frozenset[str] | None:
        org, _, slug = group.lstrip("@").partition("/")
        if not slug:
            unsupported[f"group:{group}"] = f"{group!r} is not a team: name it as org/team-slug"
            return None
        try:
            page = self.api.pages(
                f"/orgs/{org}/teams/{slug}/members",
                paging="link",
                what=f"github: members of {group}",
            )
        except UnknownTargetError:
            unsupported[f"group:{group}"] = f"team {group} does not exist or is not visible"
            return None
        except RejectedError as exc:
            unsupported[f"group:{group}"] = (
                f"cannot read team {group} (HTTP {exc.status}): the token needs members: read"
            )
            return None
        return frozenset(
            str(m["login"]) for m in page.items if isinstance(m, Mapping) and m.get("login")
        )

    def _code_owners(
        self, ref: str, files: list[str], unsupported: dict[str, str]
    ) -> CodeOwners | None:
        for location in codeowners.LOCATIONS:
            text = self.api.get(
                f"/repos/{self.repo}/contents/{location}",
                {"ref": ref},
                accept="application/vnd.github.raw",
                missing_ok=True,
                what=f"github: {location} at {ref}",
            )
            if text is not None:
                parsed = codeowners.parse(str(text), location)
                return CodeOwners(owners=parsed.required(files), source=location)
        unsupported["code_owners"] = f"no CODEOWNERS file on {ref} (.github/, root or docs/)"
        return None
