"""One SCM annotation surface for GitHub, GitLab, Bitbucket (Cloud and Data Center) and
Azure Repos: PR comments updated in place, commit statuses, checks with line annotations,
and the PR's head and added lines. See ``cievents.scm.base`` for the contract.

    settings = ScmSettings.from_env()            # once, at cold start
    client = settings.client("gitlab", outbox)   # None outbox = live writes
    pr = pull_request_of(event, settings)        # a PullRequestEvent of any of the four SCMs
    head = client.pull_request(pr)
    client.upsert_comment(pr, "secret-scan", "…")
    client.publish_check(pr, CheckReport("cievents/secret-scan", "failure", "…"), head)

Settings (all optional; an SCM without credentials can only be previewed):
``GITHUB_API_URL``, ``GITHUB_TOKEN`` or ``GITHUB_APP_ID`` + ``GITHUB_APP_PRIVATE_KEY`` +
``GITHUB_APP_INSTALLATION_ID``, ``GITHUB_ENTERPRISE_HOSTS``; ``GITLAB_API_URL``,
``GITLAB_TOKEN``, ``GITLAB_HOSTS``; ``BITBUCKET_API_URL``, ``BITBUCKET_TOKEN`` or
``BITBUCKET_USERNAME`` + ``BITBUCKET_APP_PASSWORD``; ``BITBUCKET_SERVER_URL``,
``BITBUCKET_SERVER_TOKEN``, ``BITBUCKET_SERVER_HOSTS``; ``AZURE_DEVOPS_PAT``, and
``AZURE_DEVOPS_API_URL`` (the server, default ``https://dev.azure.com``) or
``AZURE_DEVOPS_ORG_URL`` (``https://dev.azure.com/ORG``, whose server is taken; the
organization of each request comes from the repository); ``SCM_MAX_PAGES`` (default 20
pages of 100 per list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cievents.config import env_int, env_list, env_opt, env_str
from cievents.errors import ConfigError
from cievents.outbox import Outbox
from cievents.scm.base import (
    STATES,
    Annotation,
    CheckReport,
    HeadInfo,
    NotScannedError,
    Published,
    PullRequest,
    ScmClient,
    hidden_marker,
    paginate,
)
from cievents.scm.diff import AddedLines
from cievents.scm.github import AppCredentials
from cievents.vcs.repo import Repository, parse_repository

if TYPE_CHECKING:  # the events module only for its type: health's checks import this one
    from cievents.events import PullRequestEvent

__all__ = [
    "SOURCES",
    "STATES",
    "UNUSED",
    "AddedLines",
    "Annotation",
    "AppCredentials",
    "CheckReport",
    "HeadInfo",
    "NotScannedError",
    "Published",
    "PullRequest",
    "ScmClient",
    "ScmSettings",
    "azure_root",
    "hidden_marker",
    "paginate",
    "pull_request_of",
]

# Event source → provider of its pull requests.
SOURCES = {
    "github": "github",
    "gitlab": "gitlab",
    "bitbucket": "bitbucket",
    "azure-devops": "azure-repos",
}


UNUSED = "-"


def _secret(name: str, environ: Mapping[str, str] | None) -> str | None:
    """A credential, or None when unset or ``-`` (the value to give the Secret Manager secret
    of an SCM this deploy does not use, since every listed secret needs a version)."""
    value = env_opt(name, environ=environ)
    return None if value == UNUSED else value


@dataclass(frozen=True)
class ScmSettings:
    github_api: str
    github_token: str | None
    app: AppCredentials | None
    github_hosts: tuple[str, ...]
    gitlab_api: str
    gitlab_token: str | None
    gitlab_hosts: tuple[str, ...]
    bitbucket_api: str
    bitbucket_user: str | None
    bitbucket_password: str | None
    bitbucket_token: str | None
    bitbucket_server_url: str | None
    bitbucket_server_token: str | None
    bitbucket_server_hosts: tuple[str, ...]
    azure_api: str
    azure_pat: str | None
    max_pages: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScmSettings:
        e = environ
        app_id, key, installation = (
            env_opt("GITHUB_APP_ID", environ=e),
            _secret("GITHUB_APP_PRIVATE_KEY", e),
            env_opt("GITHUB_APP_INSTALLATION_ID", environ=e),
        )
        if any((app_id, key, installation)) and not all((app_id, key, installation)):
            raise ConfigError(
                "GITHUB_APP_ID",
                "an App needs GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY "
                "and GITHUB_APP_INSTALLATION_ID together",
            )
        server_url = env_opt("BITBUCKET_SERVER_URL", environ=e)
        server_hosts = env_list("BITBUCKET_SERVER_HOSTS", environ=e)
        if server_url and not server_hosts:
            server_hosts = ((urlsplit(server_url).hostname or "").lower(),)
        return cls(
            github_api=env_str("GITHUB_API_URL", "https://api.github.com", environ=e),
            github_token=_secret("GITHUB_TOKEN", e),
            app=AppCredentials(app_id, key.replace("\\n", "\n"), installation)
            if app_id and key and installation
            else None,
            github_hosts=env_list("GITHUB_ENTERPRISE_HOSTS", environ=e),
            gitlab_api=env_str("GITLAB_API_URL", "https://gitlab.com/api/v4", environ=e),
            gitlab_token=_secret("GITLAB_TOKEN", e),
            gitlab_hosts=env_list("GITLAB_HOSTS", environ=e),
            bitbucket_api=env_str("BITBUCKET_API_URL", "https://api.bitbucket.org/2.0", environ=e),
            bitbucket_user=env_opt("BITBUCKET_USERNAME", environ=e),
            bitbucket_password=_secret("BITBUCKET_APP_PASSWORD", e),
            bitbucket_token=_secret("BITBUCKET_TOKEN", e),
            bitbucket_server_url=server_url.rstrip("/") if server_url else None,
            bitbucket_server_token=_secret("BITBUCKET_SERVER_TOKEN", e),
            bitbucket_server_hosts=server_hosts,
            azure_api=env_opt("AZURE_DEVOPS_API_URL", environ=e)
            or azure_root(env_opt("AZURE_DEVOPS_ORG_URL", environ=e)),
            azure_pat=_secret("AZURE_DEVOPS_PAT", e),
            max_pages=env_int("SCM_MAX_PAGES", 20, minimum=1, environ=e),
        )

    def has_credentials(self, provider: str) -> bool:
        return {
            "github": bool(self.github_token or self.app),
            "gitlab": bool(self.gitlab_token),
            "bitbucket": bool(
                self.bitbucket_token or (self.bitbucket_user and self.bitbucket_password)
            ),
            "bitbucket-server": bool(self.bitbucket_server_url and self.bitbucket_server_token),
            "azure-repos": bool(self.azure_pat),
        }.get(provider, False)

    def repository(self, url: str | None) -> Repository | None:
        """The repository a clone URL names, with this deploy's self-hosted host lists."""
        return parse_repository(
            url, self.github_hosts, self.gitlab_hosts, self.bitbucket_server_hosts
        )

    def client(self, provider: str, outbox: Outbox | None = None) -> Any:
        """The provider's client; with ``outbox`` its writes are recorded, not sent."""
        if provider == "github":
            from cievents.scm.github import GitHubClient

            return GitHubClient(
                api_url=self.github_api,
                token=self.github_token,
                app=self.app,
                outbox=outbox,
                max_pages=self.max_pages,
            )
        if provider == "gitlab":
            from cievents.scm.gitlab import GitLabClient

            return GitLabClient(
                api_url=self.gitlab_api,
                token=self.gitlab_token,
                outbox=outbox,
                max_pages=self.max_pages,
            )
        if provider == "bitbucket":
            from cievents.scm.bitbucket import BitbucketClient

            return BitbucketClient(
                api_url=self.bitbucket_api,
                username=self.bitbucket_user,
                app_password=self.bitbucket_password,
                token=self.bitbucket_token,
                outbox=outbox,
                max_pages=self.max_pages,
            )
        if provider == "bitbucket-server":
            from cievents.scm.bitbucket import BitbucketServerClient

            return BitbucketServerClient(
                base_url=self.bitbucket_server_url or "https://bitbucket.invalid",
                token=self.bitbucket_server_token,
                outbox=outbox,
            )
        if provider == "azure-repos":
            from cievents.scm.azure import AzureReposClient

            return AzureReposClient(
                base_url=self.azure_api,
                token=self.azure_pat,
                outbox=outbox,
                max_pages=self.max_pages,
            )
        raise ValueError(f"unknown SCM provider {provider!r}")


def azure_root(org_url: str | None) -> str:
    """The server an Azure DevOps organization URL is on: ``https://dev.azure.com/fabrikam``
    → ``https://dev.azure.com`` (legacy ``https://fabrikam.visualstudio.com`` too)."""
    if not org_url:
        return "https://dev.azure.com"
    parts = urlsplit(org_url.rstrip("/"))
    if not parts.path.strip("/"):
        return "https://dev.azure.com"  # {org}.visualstudio.com: the same organization
    parent = parts.path.rstrip("/").rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{parent}"


def pull_request_of(event: PullRequestEvent, settings: ScmSettings) -> PullRequest | None:
    """Where a PR event's pull request lives, or None when its SCM or repository is unknown."""
    provider = SOURCES.get(event.source)
    if provider is None or not event.repository:
        return None
    if provider == "azure-repos":
        repo = settings.repository(event.repository)
        if repo is None or repo.provider != "azure-repos":
            return None
    else:
        host = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}[
            provider
        ]
        path = event.repository
        if "://" in path or path.startswith("git@"):
            parsed = settings.repository(path)
            if parsed is None:
                return None
            repo = parsed
        else:
            repo = Repository(provider, host, path.strip("/"))
    return PullRequest(repo, event.number, head_sha=event.commit, url=event.url)
