"""Checks for the PR gate (secret_scan's ``cievents/secret-scan``): do the deploy's SCM
credentials carry the scopes the gate writes with?

=============  ==============================================================================
GitHub App     the installation grants ``checks: write``, ``pull_requests: write``,
               ``statuses: write`` (read from the installation token's own answer)
GitHub token   classic: the ``repo`` scope (``X-OAuth-Scopes``); fine-grained tokens do not
               list theirs. Either way check runs need an App: the gate falls back to a
               commit status, and this check says so
GitLab         the token's scopes include ``api`` (``GET /personal_access_tokens/self``)
Bitbucket      ``pullrequest:write`` among the scopes Bitbucket answers with
               (``X-OAuth-Scopes``); statuses need only ``repository``
Azure Repos    the PAT authenticates (``connectionData``); Azure does not list a PAT's
               scopes back, so the detail names the ones needed: Code (status) and
               Code (read & write) for the PR threads
=============  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents.checks.base import Check, CheckFailedError, Problem, http_failure
from cievents.errors import CIEventsError
from cievents.http import RetryPolicy
from cievents.scm import ScmSettings
from cievents.scm.github import NO_APP_NOTE

__all__ = ["GITHUB_APP_PERMISSIONS", "pr_gate_checks"]

GITHUB_APP_PERMISSIONS = ("checks", "pull_requests", "statuses")
FUNCTIONS = ("secret_scan",)


def _quick(client: Any, timeout_s: float) -> Any:
    """The client with no retries and the check's timeout (a check reports fast)."""
    for http in (client.api, client.http):
        http.policy = RetryPolicy(retries=0)
        http.timeout = (min(3.0, timeout_s), timeout_s)
    return client


def _scopes(response: Any) -> set[str]:
    raw = response.headers.get("X-OAuth-Scopes") or response.headers.get("x-oauth-scopes") or ""
    return {s.strip() for s in raw.replace(" ", ",").split(",") if s.strip()}


def _get(
    settings: ScmSettings,
    provider: str,
    timeout_s: float,
    path: str,
    bad: str,
    scope: str = "",
    **kw: Any,
) -> tuple[Any, Any]:
    """(client, response) of one read. A refused credential fails the check with ``bad``, a
    403 with ``scope``, a 404 naming the address; a request that got no answer is not the
    credential's fault (``base._run_one`` names the network problem)."""
    client = _quick(settings.client(provider), timeout_s)
    if provider == "github":  # GitHub's client authenticates per request (token or App)
        kw.setdefault("headers", client.auth_headers())
    try:
        return client, client.api.get(path, what=f"{provider}: {path}", **kw)
    except CIEventsError as exc:
        fixes: dict[Problem, str] = {
            "unauthorized": bad,
            "missing_scope": scope or f"the credential is valid but lacks a permission ({bad})",
            "missing_resource": f"nothing at {path}: check the {provider} API URL setting",
            "failed": bad,
        }
        raise http_failure(exc, fixes) from None


def _require(scopes: set[str], any_of: set[str], fix: str) -> None:
    """Fail the check unless ``scopes`` holds one of ``any_of``."""
    if not scopes & any_of:
        raise CheckFailedError(
            f"the scopes are {', '.join(sorted(scopes)) or 'none'}", fix, "missing_scope"
        )


def github_app_check(settings: ScmSettings, timeout_s: float) -> Check:
    fix = (
        "give the GitHub App the permissions Checks: write, Pull requests: write and "
        "Commit statuses: write, then accept them on the installation"
    )

    def probe() -> str:
        client = _quick(settings.client("github"), timeout_s)
        try:
            client.installation_token()
        except CIEventsError as exc:
            bad = (
                "GITHUB_APP_ID / GITHUB_APP_INSTALLATION_ID / GITHUB_APP_PRIVATE_KEY do not "
                "name an installation of the App: check all three"
            )
            raise http_failure(
                exc, {"unauthorized": bad, "failed": bad, "missing_resource": bad}
            ) from None
        granted = client.installation_permissions
        granted = client.installation_permissions
        missing = [p for p in GITHUB_APP_PERMISSIONS if granted.get(p) != "write"]
        if missing:
            raise CheckFailedError(
                f"the installation lacks {', '.join(f'{p}: write' for p in missing)}",
                fix,
                "missing_scope",
            )
        return "App installation grants checks, pull_requests and statuses: write (check runs)"

    return Check("github", "PR gate (App)", probe, fix, FUNCTIONS)


def github_token_check(settings: ScmSettings, timeout_s: float) -> Check:
    fix = "use a token with the repo scope (classic) or Pull requests + Commit statuses: write"

    def probe() -> str:
        bad = "GITHUB_TOKEN is invalid or expired"
        _, response = _get(settings, "github", timeout_s, "/user", bad, fix)
        scopes = _scopes(response)
        if scopes:
            _require(scopes, {"repo", "public_repo"}, fix)
        kind = (
            "classic token with " + ", ".join(sorted(scopes))
            if scopes
            else "fine-grained token (GitHub does not list its permissions: it needs "
            "Pull requests: write and Commit statuses: write)"
        )
        return f"{kind}. {NO_APP_NOTE}"

    return Check("github", "PR gate (token)", probe, fix, FUNCTIONS)


def gitlab_check(settings: ScmSettings, timeout_s: float) -> Check:
    fix = "create the GitLab token with the api scope (notes, discussions, commit statuses)"

    def probe() -> str:
        bad = "GITLAB_TOKEN is invalid, expired or revoked"
        path = "/personal_access_tokens/self"
        _, response = _get(settings, "gitlab", timeout_s, path, bad, ok_statuses=(404,))
        if response.status_code == 404:
            return "GitLab before 15.5 does not describe a token: make sure it has the api scope"
        _require(set(response.json().get("scopes") or []), {"api"}, fix)
        return "token has the api scope"

    return Check("gitlab", "PR gate", probe, fix, FUNCTIONS)


def bitbucket_check(settings: ScmSettings, timeout_s: float) -> Check:
    fix = "give the Bitbucket token or app password the pullrequest:write scope"

    def probe() -> str:
        bad = "the Bitbucket credentials are invalid or revoked"
        _, response = _get(settings, "bitbucket", timeout_s, "/user", bad)
        scopes = _scopes(response)
        if not scopes:
            return "Bitbucket listed no scopes: make sure the credential has pullrequest:write"
        _require(scopes, {"pullrequest:write"}, fix)
        return "pullrequest:write present"

    return Check("bitbucket", "PR gate", probe, fix, FUNCTIONS)


def azure_check(settings: ScmSettings, env: Mapping[str, str], timeout_s: float) -> Check:
    org_url = env.get("AZURE_DEVOPS_ORG_URL", "").rstrip("/")
    fix = "create the PAT with Code (status) and Code (read & write)"

    def probe() -> str:
        bad = "AZURE_DEVOPS_PAT is invalid, expired or for another org"
        path = f"{org_url}/_apis/connectionData"
        body = _get(settings, "azure-repos", timeout_s, path, bad)[1].json()
        who = (body.get("authenticatedUser") or {}).get("providerDisplayName") or "?"
        return (
            f"authenticated as {who}; Azure does not list a PAT's scopes: it needs "
            "Code (status) for the statuses and Code (read & write) for the PR threads"
        )

    return Check("azure-repos", "PR gate", probe, fix, FUNCTIONS)


def pr_gate_checks(env: Mapping[str, str], timeout_s: float) -> list[Check]:
    """One check per SCM the environment has credentials for."""
    settings = ScmSettings.from_env(env)
    checks: list[Check] = []
    if settings.app is not None:
        checks.append(github_app_check(settings, timeout_s))
    elif settings.github_token:
        checks.append(github_token_check(settings, timeout_s))
    if settings.has_credentials("gitlab"):
        checks.append(gitlab_check(settings, timeout_s))
    if settings.has_credentials("bitbucket"):
        checks.append(bitbucket_check(settings, timeout_s))
    if settings.has_credentials("azure-repos") and env.get("AZURE_DEVOPS_ORG_URL"):
        checks.append(azure_check(settings, env, timeout_s))
    return checks
