"""Which repository a webhook is about: the events that change the inventory, per SCM.

* GitHub ``repository`` (created, deleted, archived, unarchived, renamed, transferred,
  publicized, privatized, edited) and ``push`` (the default branch's new head).
* GitLab ``push`` and the project events of system and group hooks (``project_create``,
  ``project_destroy``, ``project_rename``, ``project_transfer``, ``project_update``).
* Bitbucket ``repo:push`` and ``repo:updated`` (and ``repo:deleted``).
* Azure DevOps ``git.push`` and ``git.repo.*`` (created, deleted, renamed, statuschanged).

``ref_of(source, event, body)`` → a ``RepoRef`` (the stable id, the branches a push moved
with their new heads, whether the event deletes it), or None for anything else. Which of
those branches is the default one is known once the repository is re-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents.inventory.vendors import RepoRef

__all__ = ["GITLAB_PROJECT_EVENTS", "ref_of", "wants"]

GITLAB_PROJECT_EVENTS = frozenset(
    {"project_create", "project_destroy", "project_rename", "project_transfer", "project_update"}
)


def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _s(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _branch_head(ref: Any, sha: Any) -> tuple[tuple[str, str], ...]:
    """``refs/heads/NAME`` and its new head, unless the push deleted the branch (zeros)."""
    name, head = _s(ref), _s(sha)
    if not name or not name.startswith("refs/heads/") or not head or set(head) == {"0"}:
        return ()
    return ((name.removeprefix("refs/heads/"), head),)


def wants(source: str, event: str) -> bool:
    """Whether an event of ``source`` can change a repository's asset."""
    if source == "github":
        return event in ("repository", "push")
    if source == "gitlab":
        return event == "push" or event in GITLAB_PROJECT_EVENTS
    if source == "bitbucket":
        return event in ("repo:push", "repo:updated", "repo:deleted")
    if source == "azure-devops":
        return event == "git.push" or event.startswith("git.repo.")
    return False


def _github(event: str, body: Mapping[str, Any]) -> RepoRef | None:
    repo = _d(body.get("repository"))
    ident = _s(repo.get("id"))
    if ident is None:
        return None
    return RepoRef(
        "github",
        ident,
        full_name=_s(repo.get("full_name")),
        pushed=_branch_head(body.get("ref"), None if body.get("deleted") else body.get("after")),
        deleted=event == "repository" and body.get("action") == "deleted",
    )


def _gitlab(event: str, body: Mapping[str, Any]) -> RepoRef | None:
    project = _d(body.get("project"))
    ident = _s(body.get("project_id")) or _s(project.get("id"))
    if ident is None:
        return None
    pushed = (
        _branch_head(body.get("ref"), body.get("checkout_sha") or body.get("after"))
        if event == "push"
        else ()
    )
    return RepoRef(
        "gitlab",
        ident,
        full_name=_s(project.get("path_with_namespace")) or _s(body.get("path_with_namespace")),
        pushed=pushed,
        deleted=event == "project_destroy",
    )


def _bitbucket(event: str, body: Mapping[str, Any]) -> RepoRef | None:
    repo = _d(body.get("repository"))
    ident = _s(repo.get("uuid"))
    if ident is None:
        return None
    full = _s(repo.get("full_name"))
    workspace = _s(_d(repo.get("workspace")).get("slug")) or (full or "").partition("/")[0]
    pushed: list[tuple[str, str]] = []
    for change in _d(body.get("push")).get("changes") or []:
        new = _d(_d(change).get("new"))
        name, sha = _s(new.get("name")), _s(_d(new.get("target")).get("hash"))
        if new.get("type") == "branch" and name and sha:
            pushed.append((name, sha))
    return RepoRef(
        "bitbucket",
        ident,
        full_name=full,
        owner=workspace,
        pushed=tuple(pushed),
        deleted=event == "repo:deleted",
    )


def _azure_org(repo: Mapping[str, Any], body: Mapping[str, Any]) -> str | None:
    url = _s(repo.get("url")) or ""
    if "/_apis/" in url:
        root = url.split("/_apis/", 1)[0].rstrip("/")
        parts = root.split("/")
        # https://dev.azure.com/ORG/PROJECT → ORG; https://ORG.visualstudio.com/PROJECT → ORG
        if "dev.azure.com" in root and len(parts) >= 4:
            return parts[3]
        host = parts[2] if len(parts) > 2 else ""
        if host.endswith(".visualstudio.com"):
            return host.split(".", 1)[0]
    base = _s(_d(_d(body.get("resourceContainers")).get("account")).get("baseUrl")) or ""
    parts = base.rstrip("/").split("/")
    return parts[3] if "dev.azure.com" in base and len(parts) >= 4 else None


def _azure(event: str, body: Mapping[str, Any]) -> RepoRef | None:
    resource = _d(body.get("resource"))
    repo = _d(resource.get("repository")) or resource
    ident = _s(repo.get("id"))
    project = _s(_d(repo.get("project")).get("name"))
    org = _azure_org(repo, body)
    if ident is None or project is None or org is None:
        return None
    pushed: list[tuple[str, str]] = []
    for raw in resource.get("refUpdates") or []:
        update = _d(raw)
        pushed += _branch_head(update.get("name"), update.get("newObjectId"))
    return RepoRef(
        "azure",
        ident,
        full_name=f"{org}/{project}/{repo.get('name')}",
        owner=f"{org}/{project}",
        pushed=tuple(pushed),
        deleted=event == "git.repo.deleted",
    )


def ref_of(source: str, event: str, body: Mapping[str, Any]) -> RepoRef | None:
    """The repository this webhook changed, or None when it changes none."""
    if not wants(source, event):
        return None
    if source == "github":
        return _github(event, body)
    if source == "gitlab":
        return _gitlab(event, body)
    if source == "bitbucket":
        return _bitbucket(event, body)
    return _azure(event, body)
