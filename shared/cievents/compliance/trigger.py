"""Which events can change a compliance verdict, and which pull request each is about.

=============  ==========================================================================
GitHub         ``pull_request`` (opened, synchronize, reopened, edited, ready_for_review,
               converted_to_draft, closed), ``pull_request_review`` (submitted, edited,
               dismissed), ``status``, ``check_run``, ``check_suite``
GitLab         ``merge_request`` (open, update, reopen, approved, unapproved, approval,
               unapproval, merge, close), ``pipeline`` of a merge request
Bitbucket      ``pullrequest:created|updated|approved|unapproved|changes_request_created|
               changes_request_removed|fulfilled|rejected``, ``repo:commit_status_created|
               updated``
Azure Repos    ``git.pullrequest.created|updated|merged``
=============  ==========================================================================

A status event names a commit, not a pull request: the ref then has ``number=None`` and
the fetcher asks the SCM which open pull requests have that commit as their head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cievents.compliance.state import CONTEXT, PullRequestRef
from cievents.events import Event
from cievents.sources._common import dig, integer

__all__ = ["EVENTS", "azure_repository", "reference"]

EVENTS: Mapping[str, frozenset[str]] = {
    "github": frozenset(
        {"pull_request", "pull_request_review", "status", "check_run", "check_suite"}
    ),
    "gitlab": frozenset({"merge_request", "pipeline"}),
    "bitbucket": frozenset(
        {
            "pullrequest:created",
            "pullrequest:updated",
            "pullrequest:approved",
            "pullrequest:unapproved",
            "pullrequest:changes_request_created",
            "pullrequest:changes_request_removed",
            "pullrequest:fulfilled",
            "pullrequest:rejected",
            "repo:commit_status_created",
            "repo:commit_status_updated",
        }
    ),
    "azure-devops": frozenset(
        {"git.pullrequest.created", "git.pullrequest.updated", "git.pullrequest.merged"}
    ),
}
_GITHUB_PR_ACTIONS = {
    "opened",
    "synchronize",
    "reopened",
    "edited",
    "ready_for_review",
    "converted_to_draft",
    "closed",
    "review_requested",
    "review_request_removed",
}
_GITHUB_REVIEW_ACTIONS = {"submitted", "edited", "dismissed"}
_GITLAB_MR_ACTIONS = {
    "open",
    "update",
    "reopen",
    "approved",
    "unapproved",
    "approval",
    "unapproval",
    "merge",
    "close",
}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _github(event: str, body: Mapping[str, Any]) -> PullRequestRef | None:
    repo = _str(dig(body, "repository", "full_name"))
    if not repo:
        return None
    action = _str(body.get("action")) or ""
    if event in ("pull_request", "pull_request_review"):
        allowed = _GITHUB_PR_ACTIONS if event == "pull_request" else _GITHUB_REVIEW_ACTIONS
        number = integer(dig(body, "pull_request", "number"))
        if action not in allowed or number is None:
            return None
        return PullRequestRef(
            "github", repo, number, _str(dig(body, "pull_request", "head", "sha"))
        )
    if event == "status":
        if body.get("context") == CONTEXT:
            return None  # our own status: evaluating again would only find it unchanged
        sha = _str(body.get("sha"))
        return PullRequestRef("github", repo, None, sha) if sha else None
    if event in ("check_run", "check_suite"):
        item = body.get(event)
        if dig(item, "name") == CONTEXT:
            return None
        sha = _str(dig(item, "head_sha"))
        prs = [p for p in dig(item, "pull_requests") or [] if isinstance(p, Mapping)]
        # check_run.pull_requests lists PRs of this repository only; forks' PRs are found by SHA.
        numbers = [n for n in (integer(p.get("number")) for p in prs) if n is not None]
        if numbers:
            return PullRequestRef("github", repo, numbers[0], sha)
        return PullRequestRef("github", repo, None, sha) if sha else None
    return None


def _gitlab(event: str, body: Mapping[str, Any]) -> PullRequestRef | None:
    project = _str(dig(body, "project", "path_with_namespace"))
    if not project:
        return None
    api = {"project_id": str(dig(body, "project", "id") or "")}
    if event == "merge_request":
        attrs = body.get("object_attributes")
        number = integer(dig(attrs, "iid"))
        action = _str(dig(attrs, "action")) or "update"
        if number is None or action not in _GITLAB_MR_ACTIONS:
            return None
        return PullRequestRef("gitlab", project, number, _str(dig(attrs, "last_commit", "id")), api)
    if event == "pipeline":
        number = integer(dig(body, "merge_request", "iid"))
        if number is None:
            return None
        return PullRequestRef(
            "gitlab", project, number, _str(dig(body, "object_attributes", "sha")), api
        )
    return None


def _bitbucket(event: str, body: Mapping[str, Any]) -> PullRequestRef | None:
    repo = _str(dig(body, "repository", "full_name"))
    if not repo or event not in EVENTS["bitbucket"]:
        return None
    if event.startswith("repo:commit_status"):
        if dig(body, "commit_status", "key") == CONTEXT:
            return None
        sha = _str(dig(body, "commit_status", "commit", "hash"))
        return PullRequestRef("bitbucket", repo, None, sha) if sha else None
    number = integer(dig(body, "pullrequest", "id"))
    if number is None:
        return None
    return PullRequestRef(
        "bitbucket", repo, number, _str(dig(body, "pullrequest", "source", "commit", "hash"))
    )


def azure_repository(repository: Mapping[str, Any]) -> str | None:
    """``organization/project/repository`` of an Azure Repos repository object."""
    name = _str(repository.get("name"))
    project = _str(dig(repository, "project", "name"))
    remote = _str(repository.get("remoteUrl")) or _str(repository.get("url")) or ""
    parts = urlsplit(remote)
    host = (parts.hostname or "").lower()
    if host.endswith(".visualstudio.com"):
        organization = host.split(".", 1)[0]
    else:
        segments = [s for s in parts.path.split("/") if s]
        organization = segments[0] if segments else ""
    if not (name and project and organization):
        return None
    return f"{organization}/{project}/{name}"


def _azure(event: str, body: Mapping[str, Any]) -> PullRequestRef | None:
    if event not in EVENTS["azure-devops"]:
        return None
    resource = body.get("resource")
    if not isinstance(resource, Mapping):
        return None
    repository = resource.get("repository")
    number = integer(resource.get("pullRequestId"))
    if not isinstance(repository, Mapping) or number is None:
        return None
    name = azure_repository(repository)
    repo_id = _str(repository.get("id"))
    if not name or not repo_id:
        return None
    return PullRequestRef(
        "azure-devops",
        name,
        number,
        _str(dig(resource, "lastMergeSourceCommit", "commitId")),
        {"repository_id": repo_id},
    )


def reference(event: Event) -> PullRequestRef | None:
    """The pull request an event is about, or None when the event cannot change a verdict."""
    if event.event not in EVENTS.get(event.source, frozenset()):
        return None
    body = event.raw
    if event.source == "github":
        return _github(event.event, body)
    if event.source == "gitlab":
        return _gitlab(event.event, body)
    if event.source == "bitbucket":
        return _bitbucket(event.event, body)
    return _azure(event.event, body)
