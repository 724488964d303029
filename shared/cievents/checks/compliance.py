"""Checks for pr_compliance: its policy parses, each SCM token it reads with can read pull
requests and carries the scopes the checks and the ``cievents/compliance`` status need,
and Jira is reachable when a rule verifies Jira keys.

Scopes (see docs/compliance.md): GitHub classic tokens ``repo`` (plus ``read:org`` for
team rules; fine-grained tokens and Apps: Pull requests read & write, Commit statuses
write, Checks write, Contents read, Members read); GitLab ``api``; Bitbucket
``pullrequest:write`` and ``repository:write``; Azure Repos Code (read & write) and Code
(status).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents.checks.base import Check, CheckFailedError
from cievents.checks.vendors import _client, _get_json
from cievents.errors import CIEventsError

__all__ = ["compliance_checks"]

Env = Mapping[str, str]
FUNCTIONS = ("pr_compliance",)


def _policy(env: Env) -> tuple[Any, Check]:
    from cievents.compliance.policy import load

    try:
        policy = load(env=env)
    except CIEventsError as exc:
        message = exc.message

        def bad() -> str:
            raise CheckFailedError(message, "fix the policy file (README: the compliance policy)")

        return None, Check("compliance", "policy", bad, "fix the policy", FUNCTIONS)
    rules = len(policy.rules)
    return policy, Check(
        "compliance", "policy", lambda: f"{rules} rule(s) valid", "fix the policy", FUNCTIONS
    )


def _scopes(have: set[str], needed: list[str], where: str) -> str:
    missing = [s for s in needed if s not in have]
    if missing:
        raise CheckFailedError(
            f"{where} lacks {', '.join(missing)}", f"give the token {', '.join(missing)}"
        )
    return f"scopes {', '.join(needed)} present"


def compliance_checks(env: Env, timeout_s: float, function: str | None = None) -> list[Check]:
    """pr_compliance's checks, for ``--function pr_compliance`` or when a policy is set
    (``COMPLIANCE_POLICY``/``COMPLIANCE_POLICY_FILE``): the SCM tokens other functions share
    are checked for their own needs by those functions' checks."""
    configured = any(env.get(n) for n in ("COMPLIANCE_POLICY", "COMPLIANCE_POLICY_FILE"))
    if function != "pr_compliance" and not configured:
        return []
    policy, policy_check = _policy(env)
    checks = [policy_check]
    teams = bool(policy) and any(
        r.checks.reviewers and r.checks.reviewers.groups for r in policy.rules
    )
    token = env.get("GITHUB_TOKEN", "")
    if token:
        http = _client(
            "github",
            env.get("GITHUB_API_URL", "https://api.github.com"),
            {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
            timeout_s,
        )
        fix = "GITHUB_TOKEN cannot read: use a token with repo (classic) or pull requests: read"

        def github(http: Any = http) -> str:
            response = http.get("/user", what="github: /user")
            header = response.headers.get("X-OAuth-Scopes")
            if header is None:  # fine-grained token: GitHub does not list its permissions
                return "fine-grained token: grant Pull requests, Commit statuses, Contents"
            needed = ["repo", *(["read:org"] if teams else [])]
            return _scopes({s.strip() for s in header.split(",")}, needed, "GITHUB_TOKEN")

        checks.append(Check("github", "compliance scopes", github, fix, FUNCTIONS))
    if env.get("GITLAB_TOKEN"):
        http = _client(
            "gitlab",
            env.get("GITLAB_API_URL", "https://gitlab.com/api/v4"),
            {"PRIVATE-TOKEN": env["GITLAB_TOKEN"]},
            timeout_s,
        )
        fix = "GITLAB_TOKEN is invalid: create one with the api scope"

        def gitlab(http: Any = http) -> str:
            body = _get_json(http, "/personal_access_tokens/self", fix, "check GITLAB_API_URL")
            return _scopes(set(body.get("scopes") or []), ["api"], "GITLAB_TOKEN")

        checks.append(Check("gitlab", "compliance scopes", gitlab, fix, FUNCTIONS))
    if env.get("BITBUCKET_TOKEN"):
        http = _client(
            "bitbucket",
            env.get("BITBUCKET_API_URL", "https://api.bitbucket.org/2.0"),
            {"Authorization": f"Bearer {env['BITBUCKET_TOKEN']}"},
            timeout_s,
        )
        fix = (
            "BITBUCKET_TOKEN is invalid: use an access token with pull request and repository write"
        )

        def bitbucket(http: Any = http) -> str:
            response = http.get("/user", what="bitbucket: /user")
            header = response.headers.get("X-OAuth-Scopes")
            if header is None:
                return "authenticated; Bitbucket did not list the token's scopes"
            have = {s.strip() for s in header.replace(" ", ",").split(",") if s.strip()}
            return _scopes(have, ["pullrequest:write", "repository:write"], "BITBUCKET_TOKEN")

        checks.append(Check("bitbucket", "compliance scopes", bitbucket, fix, FUNCTIONS))
    if (
        policy is not None
        and policy.needs_jira()
        and not (
            env.get("JIRA_URL")
            and (env.get("JIRA_PAT") or (env.get("JIRA_EMAIL") and env.get("JIRA_API_TOKEN")))
        )
    ):

        def jira() -> str:
            raise CheckFailedError(
                "a rule verifies Jira keys but Jira is not configured",
                "set JIRA_URL and JIRA_EMAIL + JIRA_API_TOKEN (or JIRA_PAT)",
            )

        checks.append(
            Check("jira", "compliance jira_key.verify", jira, "configure Jira", FUNCTIONS)
        )
    return checks
