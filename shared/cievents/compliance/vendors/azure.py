"""Azure Repos: a pull request's state from the Git REST API 7.1 (a PAT with Code (read);
Code (status) and Code (read & write) for the status and the thread).

Calls (each only when a check needs it): ``GET {repo}/pullrequests/{id}`` (reviewers and
their votes: 10 approved, 5 approved with suggestions, -5 waiting, -10 rejected; group
reviewers are containers and ``votedFor`` says which members voted for them);
``…/commits`` and ``GET {repo}/commits/{id}`` (parents; bounded); ``…/iterations`` and
``…/iterations/{n}/changes`` (files); ``GET {repo}/commits/{sha}/statuses`` and
``…/pullrequests/{id}/statuses``. Votes carry no time: stale votes are Azure's own
business (the branch policy "reset code reviewer votes when there are new changes").
Lines changed and code owners are not in the API: those checks fail and say so.
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
    StatusCheck,
)
from cievents.sources._common import branch_of, dig, lenient_time, s

__all__ = ["API_VERSION", "AzureFetcher", "parse_pull", "parse_statuses"]

API_VERSION = "7.1"
MAX_COMMIT_LOOKUPS = 50
_STATES: Mapping[str, CheckState] = {
    "succeeded": "success",
    "failed": "failure",
    "error": "error",
    "pending": "pending",
    "notSet": "pending",
    "notApplicable": "neutral",
}


def _user(identity: Any) -> str:
    return (
        s(dig(identity, "uniqueName"))
        or s(dig(identity, "displayName"))
        or s(dig(identity, "id"))
        or ""
    )


def parse_pull(body: Mapping[str, Any], repository: str) -> PullRequestState:
    raw = str(body.get("status") or "active")
    state: PullState = (
        "merged" if raw == "completed" else "closed" if raw == "abandoned" else "open"
    )
    author = body.get("createdBy")
    aliases = {
        _user(author): frozenset(
            v for v in (s(dig(author, "displayName")), s(dig(author, "id"))) if v
        )
    }
    reviews = []
    containers: dict[str, Mapping[str, Any]] = {}
    individuals = []
    for r in body.get("reviewers") or []:
        if not isinstance(r, Mapping) or not _user(r):
            continue
        if r.get("isContainer"):
            containers[str(r.get("id"))] = r
            continue
        individuals.append(r)
        name = _user(r)
        aliases[name] = frozenset(v for v in (s(r.get("displayName")), s(r.get("id"))) if v)
        vote = r.get("vote")
        if isinstance(vote, int) and vote >= 5:
            reviews.append(Review(user=name, state="approved"))
        elif isinstance(vote, int) and vote < 0:
            reviews.append(Review(user=name, state="changes_requested"))
    groups: dict[str, frozenset[str]] = {}
    for cid, container in containers.items():
        voters = frozenset(
            _user(r)
            for r in individuals
            if any(dig(v, "id") == cid for v in r.get("votedFor") or [])
        )
        for label in {s(container.get("displayName")), s(container.get("uniqueName"))} - {None}:
            groups[str(label)] = voters
    return PullRequestState(
        scm="azure-devops",
        repository=repository,
        number=int(body["pullRequestId"]),
        title=s(body.get("title")) or "",
        description=s(body.get("description")) or "",
        author=_user(author),
        source_branch=branch_of(s(body.get("sourceRefName"))) or "",
        target_branch=branch_of(s(body.get("targetRefName"))) or "",
        head_sha=str(dig(body, "lastMergeSourceCommit", "commitId") or ""),
        state=state,
        draft=bool(body.get("isDraft")),
        url=s(dig(body, "_links", "web", "href")),
        merged_at=lenient_time(body.get("closedDate")) if state == "merged" else None,
        merge_commit=s(dig(body, "lastMergeCommit", "commitId")) if state == "merged" else None,
        reviews=tuple(reviews),
        group_members=groups,
        aliases=aliases,
    )


def parse_statuses(items: Sequence[Any]) -> tuple[StatusCheck, ...]:
    """``genre/name`` per status context, the newest first (Azure lists newest first)."""
    out: dict[str, StatusCheck] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        name, genre = s(dig(item, "context", "name")), s(dig(item, "context", "genre"))
        if not name:
            continue
        full = f"{genre}/{name}" if genre else name
        out.setdefault(full, StatusCheck(full, _STATES.get(str(item.get("state")), "pending")))
    return tuple(out.values())


class AzureFetcher:
    scm = "azure-devops"

    def __init__(self, api: Api, repository: str, base: str) -> None:
        self.api = api
        self.repository = repository
        self.base = base
        self.version = {"api-version": API_VERSION}

    def pulls_for_commit(self, sha: str) -> list[int]:
        return []  # Azure status changes arrive as git.pullrequest.updated, which names the PR

    def fetch(self, number: int, needs: Needs) -> PullRequestState:
        pr = f"{self.base}/pullRequests/{number}"
        body = self.api.get(pr, self.version, what=f"azure-devops: {self.repository}!{number}")
        state = parse_pull(body, self.repository)
        changes: dict[str, Any] = {}
        unsupported: dict[str, str] = {}
        if needs.commits:
            page = self.api.pages(
                f"{pr}/commits", self.version, paging="continuation", items="value"
            )
            commits = []
            for index, item in enumerate(c for c in page.items if isinstance(c, Mapping)):
                parents = item.get("parents")
                if not isinstance(parents, list) and index < MAX_COMMIT_LOOKUPS:
                    detail = self.api.get(f"{self.base}/commits/{item['commitId']}", self.version)
                    parents = detail.get("parents") if isinstance(detail, Mapping) else None
                commits.append(
                    Commit(
                        sha=str(item["commitId"]),
                        parents=len(parents) if isinstance(parents, list) else None,
                        date=lenient_time(dig(item, "committer", "date")),
                    )
                )
            changes["commits"] = tuple(commits)
            changes["commits_truncated"] = page.truncated or len(commits) > MAX_COMMIT_LOOKUPS
        if needs.files:
            iterations = self.api.pages(
                f"{pr}/iterations", self.version, paging="skip", items="value"
            )
            ids = [
                int(i["id"])
                for i in iterations.items
                if isinstance(i, Mapping) and isinstance(i.get("id"), int)
            ]
            if ids:
                paths, skip, cut = [], 0, True
                for _ in range(self.api.max_pages):
                    changed = self.api.get(
                        f"{pr}/iterations/{max(ids)}/changes",
                        {**self.version, "$top": 100, "$skip": skip},
                    )
                    entries = [
                        e
                        for e in (changed or {}).get("changeEntries") or []
                        if isinstance(e, Mapping)
                    ]
                    paths += [str(dig(e, "item", "path") or "") for e in entries]
                    if not isinstance((changed or {}).get("nextSkip"), int):
                        cut = False
                        break
                    skip = int(changed["nextSkip"])
                changes["files"] = tuple(p.lstrip("/") for p in paths if p)
                changes["files_count"] = None if cut else len(paths)
            unsupported["files"] = "Azure Repos' API does not count lines changed"
        if needs.statuses:
            commit = self.api.pages(
                f"{self.base}/commits/{state.head_sha}/statuses",
                {**self.version, "latestOnly": "true"},
                paging="skip",
                items="value",
            )
            pull = self.api.pages(f"{pr}/statuses", self.version, paging="skip", items="value")
            # PR statuses are listed oldest first; the newest per context counts.
            changes["statuses"] = parse_statuses(list(reversed(pull.items)) + commit.items)
        for group in needs.groups:
            if group not in state.group_members:
                unsupported[f"group:{group}"] = (
                    f"{group} is not a reviewer: add it as a required reviewer"
                )
        if needs.code_owners:
            unsupported["code_owners"] = (
                "Azure Repos has no code owners: use required-reviewer path policies"
            )
        changes["unsupported"] = unsupported
        return replace(state, **changes)
