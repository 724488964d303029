"""Checks for the HTTP integrations: Slack, Teams, GitHub, GitLab, Bitbucket, Jira,
Azure DevOps and Buildkite. Each is a read-only call (Teams: a request that does
not post), made with a short timeout and no retries so a check reports fast.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from cievents.checks.base import Check, CheckFailedError, Problem, http_failure
from cievents.config import env_list
from cievents.errors import CIEventsError
from cievents.http import HttpClient, RetryPolicy

Env = Mapping[str, str]
NO_RETRY = RetryPolicy(retries=0)


def _client(sink: str, base_url: str, headers: Mapping[str, str], timeout_s: float) -> HttpClient:
    return HttpClient(
        sink=sink,
        base_url=base_url,
        headers=headers,
        policy=NO_RETRY,
        connect_timeout=min(3.0, timeout_s),
        read_timeout=timeout_s,
    )


def _get_json(
    http: HttpClient, path: str, fix_401: str, fix_404: str, fix_403: str = "", **kw: Any
) -> Any:
    """The JSON of a GET; a refusal fails the check with the fix for its problem (401 the
    credential, 403 a missing scope, named by the answer's scope headers, 404 the target)."""
    try:
        return http.get(path, **kw).json()
    except CIEventsError as exc:
        fix_403 = fix_403 or f"the credential is valid but lacks a permission: {fix_401}"
        fixes: dict[Problem, str] = {
            "unauthorized": fix_401,
            "missing_scope": fix_403,
            "missing_resource": fix_404,
            "failed": fix_401,
        }
        raise http_failure(exc, fixes) from None


def slack_checks(env: Env, timeout_s: float, channels: Callable[[], list[str]]) -> list[Check]:
    token = env.get("SLACK_BOT_TOKEN", "")
    if not token:
        return []
    base = env.get("SLACK_API_URL", "https://slack.com/api").rstrip("/")
    http = _client("slack", base, {"Authorization": f"Bearer {token}"}, timeout_s)

    def call(method: str, **params: str) -> Mapping[str, Any]:
        body = http.post(f"/{method}", data=params).json()
        if not body.get("ok"):
            error = str(body.get("error", "unknown_error"))
            needed = str(body.get("needed") or "the scope Slack names")
            fixes: dict[str, tuple[Problem, str]] = {
                "invalid_auth": (
                    "unauthorized",
                    "SLACK_BOT_TOKEN is wrong or revoked: reinstall the app",
                ),
                "token_revoked": ("unauthorized", "SLACK_BOT_TOKEN was revoked: reinstall the app"),
                "account_inactive": (
                    "unauthorized",
                    "the bot's account is deactivated: reinstall the app",
                ),
                "not_authed": ("unauthorized", "set SLACK_BOT_TOKEN to the bot token (xoxb-…)"),
                "channel_not_found": (
                    "missing_resource",
                    "no such channel, or a private one: check the routing file",
                ),
                "missing_scope": (
                    "missing_scope",
                    f"add {needed} to the app's Bot Token Scopes and reinstall it",
                ),
            }
            problem, fix = fixes.get(error, ("failed", f"see Slack's docs for {error}"))
            scopes = (
                f" (needed: {needed}; the token has: {body.get('provided') or '?'})"
                if error == "missing_scope"
                else ""
            )
            raise CheckFailedError(f"{method}: {error}{scopes}", fix, problem)
        return dict(body)

    def auth() -> str:
        body = call("auth.test")
        return f"bot {body.get('user', '?')} in {body.get('team', '?')}"

    checks = [
        Check(
            "slack",
            "auth.test",
            auth,
            "check SLACK_BOT_TOKEN",
            ("slack_notify", "secret_scan", "health"),
        )
    ]
    for channel in channels():

        def member(channel: str = channel) -> str:
            info = call("conversations.info", channel=channel).get("channel", {})
            if not info.get("is_member"):
                raise CheckFailedError(
                    f"the bot is not in {channel}", f"invite the bot: /invite @<bot> in {channel}"
                )
            return f"bot is a member of #{info.get('name', channel)}"

        checks.append(
            Check(
                "slack",
                f"channel {channel}",
                member,
                "invite the bot to the channel",
                ("slack_notify",),
            )
        )
    return checks


def teams_checks(env: Env, timeout_s: float) -> list[Check]:
    url = env.get("TEAMS_WEBHOOK_URL", "")
    if not url:
        return []

    def reach() -> str:
        http = _client("teams", "", {}, timeout_s)
        # A GET never triggers a Workflows flow; any HTTP answer proves the host is reachable.
        response = http.get(url, ok_statuses=tuple(range(400, 500)))
        if response.status_code == 404:
            raise CheckFailedError(
                "the webhook URL answers 404",
                "the flow was deleted or the URL is wrong: copy it again from Teams",
                "missing_resource",
            )
        return f"reachable (HTTP {response.status_code} to a GET; nothing posted)"

    return [
        Check("teams", "workflows webhook", reach, "check TEAMS_WEBHOOK_URL", ("teams_notify",))
    ]


GITHUB_SCOPE_FIX = (
    "the token is valid but lacks a scope: give it Commit statuses: write (classic: repo)"
)


def github_checks(env: Env, timeout_s: float) -> list[Check]:
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        return []
    base = env.get("GITHUB_API_URL", "https://api.github.com")
    http = _client(
        "github",
        base,
        {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
        timeout_s,
    )
    fix = "GITHUB_TOKEN is invalid or expired: use a token with statuses: write"

    def user() -> str:
        body = _get_json(http, "/user", fix, "check GITHUB_API_URL", GITHUB_SCOPE_FIX)
        return f"authenticated as {body.get('login', '?')}"

    checks = [Check("github", "token", user, fix, ("github_status", "secret_scan"))]
    for repo in env_list("CHECK_GITHUB_REPOS", environ=env):

        def access(repo: str = repo) -> str:
            body = _get_json(
                http,
                f"/repos/{repo}",
                fix,
                f"the token cannot see {repo}: grant it access to the repository",
                GITHUB_SCOPE_FIX,
            )
            perms = body.get("permissions") or {}
            if perms and not perms.get("push"):
                raise CheckFailedError(
                    f"{repo}: no write access",
                    "statuses need write access (push or statuses: write)",
                    "missing_scope",
                )
            return f"{repo} visible"

        checks.append(Check("github", f"repo {repo}", access, fix, ("github_status",)))
    return checks


def gitlab_checks(env: Env, timeout_s: float) -> list[Check]:
    token = env.get("GITLAB_TOKEN", "")
    if not token:
        return []
    base = env.get("GITLAB_API_URL", "https://gitlab.com/api/v4")
    http = _client("gitlab", base, {"PRIVATE-TOKEN": token}, timeout_s)
    fix = "GITLAB_TOKEN is invalid or lacks the api scope"

    def user() -> str:
        body = _get_json(http, "/user", fix, "check GITLAB_API_URL")
        return f"authenticated as {body.get('username', '?')}"

    return [Check("gitlab", "token", user, fix, ("github_status",))]


def bitbucket_checks(env: Env, timeout_s: float) -> list[Check]:
    username, password = env.get("BITBUCKET_USERNAME", ""), env.get("BITBUCKET_APP_PASSWORD", "")
    token = env.get("BITBUCKET_TOKEN", "")
    if not (token or (username and password)):
        return []
    base = env.get("BITBUCKET_API_URL", "https://api.bitbucket.org/2.0")
    auth = (
        f"Bearer {token}"
        if token
        else "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    )
    http = _client("bitbucket", base, {"Authorization": auth}, timeout_s)
    fix = "the Bitbucket credentials are invalid or lack the repository:write scope"

    def account() -> str:
        body = _get_json(http, "/user", fix, "check BITBUCKET_API_URL")
        return f"authenticated as {body.get('display_name', '?')}"

    return [Check("bitbucket", "credentials", account, fix, ("github_status",))]


def _no_jira_credentials() -> str:
    raise CheckFailedError(
        "no credentials", "set JIRA_EMAIL + JIRA_API_TOKEN (Cloud) or JIRA_PAT", "unauthorized"
    )


def jira_checks(env: Env, timeout_s: float) -> list[Check]:
    url = env.get("JIRA_URL", "")
    if not url:
        return []
    email, api_token, pat = (
        env.get("JIRA_EMAIL", ""),
        env.get("JIRA_API_TOKEN", ""),
        env.get("JIRA_PAT", ""),
    )
    if pat:
        auth = f"Bearer {pat}"
    elif email and api_token:
        auth = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()
    else:
        return [
            Check(
                "jira",
                url,
                _no_jira_credentials,
                "set Jira credentials",
                ("jira_update", "workitem_sync"),
            )
        ]
    http = _client(
        "jira", url.rstrip("/"), {"Authorization": auth, "Accept": "application/json"}, timeout_s
    )
    fix = "the Jira credentials are wrong or expired"

    def myself() -> str:
        body = _get_json(http, "/rest/api/2/myself", fix, "check JIRA_URL")
        return f"authenticated as {body.get('displayName') or body.get('name', '?')}"

    checks = [Check("jira", "myself", myself, fix, ("jira_update", "workitem_sync"))]
    for project in env_list("JIRA_PROJECTS", environ=env):

        def browse(project: str = project) -> str:
            body = _get_json(
                http,
                f"/rest/api/2/project/{project}",
                fix,
                f"project {project} does not exist or the account cannot browse it",
            )
            return f"project {body.get('key', project)}: {body.get('name', '')}".strip()

        checks.append(
            Check("jira", f"project {project}", browse, fix, ("jira_update", "workitem_sync"))
        )
    return checks


def azure_devops_checks(env: Env, timeout_s: float) -> list[Check]:
    org_url, project, pat = (
        env.get("AZURE_DEVOPS_ORG_URL", ""),
        env.get("AZURE_DEVOPS_PROJECT", ""),
        env.get("AZURE_DEVOPS_PAT", ""),
    )
    if not (org_url and pat):
        return []
    auth = "Basic " + base64.b64encode(f":{pat}".encode()).decode()
    http = _client("azure-devops", org_url.rstrip("/"), {"Authorization": auth}, timeout_s)
    fix = "AZURE_DEVOPS_PAT is invalid or lacks the Work Items (read & write) scope"
    target = project or "(organization)"

    def access() -> str:
        path = f"/_apis/projects/{project}" if project else "/_apis/projects"
        body = _get_json(
            http,
            path,
            fix,
            f"project {project} not found in {org_url}",
            params={"api-version": "7.1"},
        )
        return f"project {body.get('name', target)} visible"

    return [Check("azure-devops", target, access, fix, ("workitem_sync",))]


def buildkite_checks(env: Env, timeout_s: float) -> list[Check]:
    token = env.get("BUILDKITE_API_TOKEN", "")
    if not token:
        return []
    base = env.get("BUILDKITE_API_URL", "https://api.buildkite.com/v2")
    http = _client("buildkite", base, {"Authorization": f"Bearer {token}"}, timeout_s)
    fix = "BUILDKITE_API_TOKEN is invalid: create one with read_builds and read_job_logs"

    def scopes() -> str:
        body = _get_json(http, "/access-token", fix, "check BUILDKITE_API_URL")
        have = set(body.get("scopes") or [])
        missing = sorted({"read_builds", "read_job_logs"} - have)
        if missing:
            raise CheckFailedError(
                f"token lacks {', '.join(missing)}",
                f"add the scopes {', '.join(missing)} to the API token",
                "missing_scope",
            )
        return "scopes read_builds, read_job_logs present"

    return [Check("buildkite", "API token scopes", scopes, fix, ("secret_scan",))]
