"""What protects a repository's default branch, read from each SCM's own API.

One shape for four vendors (``Protection``): whether anything protects the branch, how
many approvals a merge needs, whether passing checks are required, whether force pushes
are blocked, and which vendor objects said so (``sources``). Reads go through the
``cievents.scm`` client's live ``api`` with ``cievents.compliance.api.Api`` (the vendor's
pagination, bounded by ``SCM_MAX_PAGES``, one cache per audit).

==========  ==================================================================================
GitHub      ``GET /repos/{r}/branches/{b}/protection`` (classic; 404 = none) and
            ``GET /repos/{r}/rules/branches/{b}`` (every active ruleset rule for the branch,
            repository or organization level): ``pull_request`` →
            ``required_approving_review_count``, ``required_status_checks``,
            ``non_fast_forward`` (force pushes blocked). Classic protection blocks force pushes
            unless ``allow_force_pushes.enabled``.
GitLab      ``GET /projects/{id}/protected_branches`` (names or wildcards, matched here),
            ``allow_force_push``; ``GET /projects/{id}/approval_rules`` (``approvals_required``
            of the rules for all branches or this one; absent on GitLab Free);
            ``only_allow_merge_if_pipeline_succeeds`` of ``GET /projects/{id}``.
Bitbucket   ``GET /repositories/{w}/{r}/branch-restrictions`` (``glob`` patterns or the
            branching model's ``development``/``production`` branch): ``push`` /
            ``restrict_merges``, ``force`` (history rewrites blocked),
            ``require_approvals_to_merge`` and ``require_default_reviewer_approvals_to_merge``
            (``value``), ``require_passing_builds_to_merge``.
Azure       ``GET /{org}/{project}/_apis/policy/configurations`` (continuation tokens): the
            enabled, blocking policies whose scope holds this repository (or every one) and
            ref (``Exact``, ``Prefix`` or ``DefaultBranch``): minimum reviewers / required
            reviewers (``minimumApproverCount``), build and status policies (checks). A branch
            with a blocking policy takes changes through pull requests only, so pushes,
            force pushes included, are refused: Azure has no separate force-push policy.
==========  ==================================================================================

A read the credentials may not make (403) leaves that part unknown (``unknown``), never
reported as unprotected.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cievents import log
from cievents.compliance.api import Api
from cievents.errors import RejectedError, UnknownTargetError
from cievents.inventory.model import Repo

__all__ = ["AZURE_API_VERSION", "Protection", "azure_list", "read_api", "read_protection"]

AZURE_API_VERSION = "7.1"
# Azure policy type ids (https://learn.microsoft.com/azure/devops/repos/git/branch-policies).
AZURE_MIN_REVIEWERS = "fa4e907d-c16b-4a4c-9dfa-4906e5d171dd"
AZURE_REQUIRED_REVIEWERS = "fd2167ab-b0be-447a-8ec8-39368250530e"
AZURE_BUILD = "0609b952-1397-4640-95ec-e00a01b2c241"
AZURE_STATUS = "cbdc66da-9728-4af8-aada-9a5a32e4a226"


@dataclass(frozen=True)
class Protection:
    protected: bool
    reviews: int = 0
    checks: bool = False
    force_push_blocked: bool = False
    sources: tuple[str, ...] = ()
    # Parts the credentials could not read (a 403): never reported as missing.
    unknown: tuple[str, ...] = field(default_factory=tuple)


def read_api(client: Any) -> Api:
    """An ``Api`` over a ``cievents.scm`` client's live reads (GitHub adds its auth header)."""
    headers = client.auth_headers() if hasattr(client, "auth_headers") else {}
    return Api(client.api, max_pages=getattr(client, "max_pages", 20), headers=headers)


def read_protection(repo: Repo, api: Api) -> Protection:
    """The protection of ``repo``'s default branch, from its SCM."""
    branch = repo.default_branch or ""
    if repo.scm == "github":
        return _github(repo, branch, api)
    if repo.scm == "gitlab":
        return _gitlab(repo, branch, api)
    if repo.scm == "bitbucket":
        return _bitbucket(repo, branch, api)
    return _azure(repo, branch, api)


def _refused(what: str, exc: RejectedError, unknown: list[str]) -> None:
    log.logger.warning("audit: not allowed to read", what=what, status=exc.status)
    unknown.append(what)


def _github(repo: Repo, branch: str, api: Api) -> Protection:
    base = f"/repos/{repo.full_name}"
    ref = quote(branch, safe="")
    unknown: list[str] = []
    sources: list[str] = []
    reviews, checks, blocked = 0, False, False
    try:
        classic = api.get(
            f"{base}/branches/{ref}/protection",
            missing_ok=True,
            what=f"github: protection of {repo.full_name}@{branch}",
        )
    except RejectedError as exc:  # branch protection needs admin (or administration: read)
        _refused("branch protection", exc, unknown)
        classic = None
    if isinstance(classic, Mapping):
        sources.append("branch protection")
        pull = classic.get("required_pull_request_reviews") or {}
        reviews = int(pull.get("required_approving_review_count") or 0) if pull else 0
        status = classic.get("required_status_checks") or {}
        checks = bool(status.get("contexts") or status.get("checks"))
        blocked = not bool((classic.get("allow_force_pushes") or {}).get("enabled"))
    try:
        rules = api.pages(
            f"{base}/rules/branches/{ref}",
            paging="link",
            what=f"github: rules of {repo.full_name}@{branch}",
        ).items
    except UnknownTargetError:  # a GitHub Enterprise Server without rulesets
        rules = []
    for rule in rules:
        if not isinstance(rule, Mapping):
            continue
        kind, params = rule.get("type"), rule.get("parameters") or {}
        sources.append(f"ruleset {rule.get('ruleset_id', '?')}: {kind}")
        if kind == "pull_request":
            reviews = max(reviews, int(params.get("required_approving_review_count") or 0))
        elif kind == "required_status_checks":
            checks = checks or bool(params.get("required_status_checks"))
        elif kind == "non_fast_forward":
            blocked = True
    return Protection(bool(sources), reviews, checks, blocked, tuple(sources), tuple(unknown))


def _gitlab(repo: Repo, branch: str, api: Api) -> Protection:
    base = f"/projects/{quote(repo.id, safe='')}"
    unknown: list[str] = []
    protected = [
        p
        for p in api.pages(
            f"{base}/protected_branches",
            paging="link",
            what=f"gitlab: protected branches of {repo.full_name}",
        ).items
        if isinstance(p, Mapping) and fnmatch.fnmatchcase(branch, str(p.get("name") or ""))
    ]
    if not protected:
        return Protection(False)
    blocked = not any(p.get("allow_force_push") for p in protected)
    reviews = 0
    try:
        rules = api.pages(
            f"{base}/approval_rules",
            paging="link",
            what=f"gitlab: approval rules of {repo.full_name}",
        ).items
    except RejectedError as exc:
        _refused("approval rules", exc, unknown)
        rules = []
    for rule in rules:
        if not isinstance(rule, Mapping):
            continue
        scoped = [str(b.get("name")) for b in rule.get("protected_branches") or []]
        if (
            rule.get("applies_to_all_protected_branches")
            or not scoped
            or any(fnmatch.fnmatchcase(branch, name) for name in scoped)
        ):
            reviews = max(reviews, int(rule.get("approvals_required") or 0))
    project = api.get(base, what=f"gitlab: project {repo.full_name}") or {}
    checks = bool(project.get("only_allow_merge_if_pipeline_succeeds"))
    sources = tuple(f"protected branch {p.get('name')}" for p in protected)
    return Protection(True, reviews, checks, blocked, sources, tuple(unknown))


def _bitbucket(repo: Repo, branch: str, api: Api) -> Protection:
    base = f"/repositories/{repo.full_name}"
    restrictions = api.pages(
        f"{base}/branch-restrictions",
        paging="next",
        items="values",
        what=f"bitbucket: branch restrictions of {repo.full_name}",
    ).items
    model: Mapping[str, Any] | None = None
    applying = []
    for item in restrictions:
        if not isinstance(item, Mapping):
            continue
        if item.get("branch_match_kind") == "branching_model":
            if model is None:
                model = (
                    api.get(
                        f"{base}/branching-model",
                        missing_ok=True,
                        what=f"bitbucket: branching model of {repo.full_name}",
                    )
                    or {}
                )
            if _model_branch(model, str(item.get("branch_type") or "")) != branch:
                continue
        elif not fnmatch.fnmatchcase(branch, str(item.get("pattern") or "")):
            continue
        applying.append(item)
    kinds = {str(r.get("kind")) for r in applying}
    reviews = max(
        (
            int(r.get("value") or 0)
            for r in applying
            if r.get("kind")
            in ("require_approvals_to_merge", "require_default_reviewer_approvals_to_merge")
        ),
        default=0,
    )
    return Protection(
        bool(applying),
        reviews,
        "require_passing_builds_to_merge" in kinds,
        "force" in kinds,
        tuple(sorted(kinds)),
    )


def _model_branch(model: Mapping[str, Any], kind: str) -> str | None:
    """The branch the branching model's ``development`` / ``production`` type names."""
    part = model.get(kind) if kind in ("development", "production") else None
    if not isinstance(part, Mapping) or (kind == "production" and not part.get("enabled", True)):
        return None
    named = (part.get("branch") or {}).get("name") or part.get("name")
    return str(named) if named else None


def _azure(repo: Repo, branch: str, api: Api) -> Protection:
    org, _, project = repo.owner.partition("/")
    ref = f"refs/heads/{branch}"
    policies = azure_list(api, org, project, "policy/configurations", "policies")
    reviews, checks, sources = 0, False, []
    for policy in policies:
        if not isinstance(policy, Mapping) or not policy.get("isEnabled"):
            continue
        if policy.get("isBlocking") is False or policy.get("isDeleted"):
            continue
        scopes = (policy.get("settings") or {}).get("scope") or []
        if not any(_azure_scope_holds(s, repo.id, ref) for s in scopes if isinstance(s, Mapping)):
            continue
        kind = policy.get("type") or {}
        type_id = str(kind.get("id") or "").lower()
        sources.append(str(kind.get("displayName") or type_id))
        if type_id in (AZURE_MIN_REVIEWERS, AZURE_REQUIRED_REVIEWERS):
            count = (policy.get("settings") or {}).get("minimumApproverCount")
            reviews = max(reviews, int(count or 1))
        elif type_id in (AZURE_BUILD, AZURE_STATUS):
            checks = True
    return Protection(bool(sources), reviews, checks, bool(sources), tuple(sources))


def azure_list(api: Api, org: str, project: str, path: str, what: str) -> list[Any]:
    """Every item of a project's Azure DevOps list (``value``, continuation tokens)."""
    return api.pages(
        f"/{quote(org, safe='')}/{quote(project, safe='')}/_apis/{path}",
        {"api-version": AZURE_API_VERSION},
        paging="continuation",
        items="value",
        what=f"azure-devops: {what} of {org}/{project}",
    ).items


def _azure_scope_holds(scope: Mapping[str, Any], repo_id: str, ref: str) -> bool:
    repository = scope.get("repositoryId")
    if repository and str(repository).lower() != repo_id.lower():
        return False
    kind = str(scope.get("matchKind") or "Exact").lower()
    if kind == "defaultbranch":
        return True
    name = scope.get("refName")
    if not name:
        return True  # the repository (or project) as a whole
    if kind == "prefix":
        return ref.startswith(str(name))
    return ref == str(name)
