"""Per-SCM fetchers of a pull request's current state, and the read clients they use.

``ScmSettings.from_env()`` reads each SCM's credentials and API URL once, at cold start:

============  =========================================================================
GitHub        ``GITHUB_TOKEN``, or ``GITHUB_APP_ID`` + ``GITHUB_APP_PRIVATE_KEY`` +
              ``GITHUB_APP_INSTALLATION_ID``; ``GITHUB_API_URL``
GitLab        ``GITLAB_TOKEN``; ``GITLAB_API_URL`` (default https://gitlab.com/api/v4)
Bitbucket     ``BITBUCKET_TOKEN``, or ``BITBUCKET_USERNAME`` + ``BITBUCKET_APP_PASSWORD``;
              ``BITBUCKET_API_URL`` (default https://api.bitbucket.org/2.0)
Azure Repos   ``AZURE_DEVOPS_PAT``; ``AZURE_DEVOPS_ORG_URL`` (default: from the event)
============  =========================================================================
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cievents.compliance.api import Api
from cievents.compliance.state import Needs, PullRequestRef, PullRequestState
from cievents.config import Env, env_opt, env_str
from cievents.errors import ConfigError
from cievents.http import HttpClient

__all__ = ["Fetcher", "ScmSettings", "fetcher_for"]


class Fetcher(Protocol):
    scm: str

    def pulls_for_commit(self, sha: str) -> list[int]: ...

    def fetch(self, number: int, needs: Needs) -> PullRequestState: ...


@dataclass(frozen=True)
class ScmSettings:
    github_api: str
    github_token: str | None
    github_app: tuple[str, str, str] | None
    gitlab_api: str
    gitlab_token: str | None
    bitbucket_api: str
    bitbucket_auth: str | None
    azure_org_url: str | None
    azure_pat: str | None

    @classmethod
    def from_env(cls, environ: Env | None = None) -> ScmSettings:
        app = tuple(
            env_opt(n, environ=environ)
            for n in ("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_INSTALLATION_ID")
        )
        if any(app) and not all(app):
            raise ConfigError(
                "GITHUB_APP_ID",
                "an App needs GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID",
            )
        token = env_opt("BITBUCKET_TOKEN", environ=environ)
        user = env_opt("BITBUCKET_USERNAME", environ=environ)
        password = env_opt("BITBUCKET_APP_PASSWORD", environ=environ)
        bitbucket = (
            f"Bearer {token}"
            if token
            else "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if user and password
            else None
        )
        return cls(
            github_api=env_str("GITHUB_API_URL", "https://api.github.com", environ=environ),
            github_token=env_opt("GITHUB_TOKEN", environ=environ),
            github_app=(str(app[0]), str(app[1]).replace("\\n", "\n"), str(app[2]))
            if all(app)
            else None,
            gitlab_api=env_str("GITLAB_API_URL", "https://gitlab.com/api/v4", environ=environ),
            gitlab_token=env_opt("GITLAB_TOKEN", environ=environ),
            bitbucket_api=env_str(
                "BITBUCKET_API_URL", "https://api.bitbucket.org/2.0", environ=environ
            ),
            bitbucket_auth=bitbucket,
            azure_org_url=env_opt("AZURE_DEVOPS_ORG_URL", environ=environ),
            azure_pat=env_opt("AZURE_DEVOPS_PAT", environ=environ),
        )

    def can_read(self, scm: str) -> bool:
        return {
            "github": bool(self.github_token or self.github_app),
            "gitlab": bool(self.gitlab_token),
            "bitbucket": bool(self.bitbucket_auth),
            "azure-devops": bool(self.azure_pat),
        }.get(scm, False)

    def credential_variable(self, scm: str) -> str:
        return {
            "github": "GITHUB_TOKEN (or a GitHub App)",
            "gitlab": "GITLAB_TOKEN",
            "bitbucket": "BITBUCKET_TOKEN (or BITBUCKET_USERNAME + BITBUCKET_APP_PASSWORD)",
            "azure-devops": "AZURE_DEVOPS_PAT",
        }[scm]

    def headers(self, scm: str) -> dict[str, str]:
        """The read client's auth headers (a GitHub App's installation token is fetched now)."""
        if scm == "github":
            token = self.github_token
            if self.github_app is not None:
                from cievents.vcs.github import AppCredentials, GitHubClient

                app = AppCredentials(*self.github_app)
                token = GitHubClient(api_url=self.github_api, app=app).installation_token()
            return {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            }
        if scm == "gitlab":
            return {"PRIVATE-TOKEN": str(self.gitlab_token)}
        if scm == "bitbucket":
            return {"Authorization": str(self.bitbucket_auth)}
        encoded = base64.b64encode(f":{self.azure_pat}".encode()).decode()
        return {"Authorization": f"Basic {encoded}"}

    def api_url(self, ref: PullRequestRef) -> str:
        if ref.scm == "github":
            return self.github_api
        if ref.scm == "gitlab":
            return self.gitlab_api
        if ref.scm == "bitbucket":
            return self.bitbucket_api
        return self.azure_org_url or ref.api.get("organization_url", "")


def fetcher_for(
    ref: PullRequestRef, settings: ScmSettings, *, max_pages: int, clients: Mapping[str, HttpClient]
) -> Fetcher:
    """A fetcher for the ref's SCM; ``clients`` holds the read clients, one per SCM."""
    api = Api(clients[ref.scm], max_pages=max_pages)
    if ref.scm == "github":
        from cievents.compliance.vendors.github import GitHubFetcher

        return GitHubFetcher(api, ref.repository)
    if ref.scm == "gitlab":
        from cievents.compliance.vendors.gitlab import GitLabFetcher

        return GitLabFetcher(api, ref.repository)
    if ref.scm == "bitbucket":
        from cievents.compliance.vendors.bitbucket import BitbucketFetcher

        return BitbucketFetcher(api, ref.repository)
    from cievents.compliance.vendors.azure import AzureFetcher, repository_base

    base = repository_base(
        settings.api_url(ref), ref.api.get("project_id", ""), ref.api.get("repository_id", "")
    )
    return AzureFetcher(api, ref.repository, base)


def read_client(scm: str, base_url: str, settings: ScmSettings) -> HttpClient:
    """A client that reads for real, dry run or not (the verdict needs the real state)."""
    return HttpClient(sink=scm, base_url=base_url, headers=settings.headers(scm))
