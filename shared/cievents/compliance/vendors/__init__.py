"""Per-SCM fetchers of a pull request's current state, reading through the SCM surface.

Credentials and API URLs are those of ``cievents.scm.ScmSettings`` (read once, at cold
start): ``GITHUB_TOKEN`` or a GitHub App, ``GITLAB_TOKEN``, ``BITBUCKET_TOKEN`` (or
``BITBUCKET_USERNAME`` + ``BITBUCKET_APP_PASSWORD``), ``AZURE_DEVOPS_PAT``, their
``*_API_URL``s, and ``SCM_MAX_PAGES`` for every list. Reads use each client's live
``api`` (a dry run still reads the real state); writes go through the client itself.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from cievents.compliance.api import Api
from cievents.compliance.state import Needs, PullRequestRef, PullRequestState

__all__ = ["PROVIDERS", "Fetcher", "fetcher_for"]

# Event source → the SCM surface's provider name.
PROVIDERS = {
    "github": "github",
    "gitlab": "gitlab",
    "bitbucket": "bitbucket",
    "azure-devops": "azure-repos",
}


class Fetcher(Protocol):
    scm: str

    def pulls_for_commit(self, sha: str) -> list[int]: ...

    def fetch(self, number: int, needs: Needs) -> PullRequestState: ...


def _github_auth(settings: Any, client: Any) -> dict[str, str]:
    if settings.app is not None:
        return {"Authorization": f"Bearer {client.installation_token()}"}
    return {"Authorization": f"Bearer {settings.github_token}"} if settings.github_token else {}


def fetcher_for(ref: PullRequestRef, settings: Any, client: Any) -> Fetcher:
    """A fetcher for the ref's SCM reading through ``client.api`` (a ``cievents.scm`` client
    built from ``settings``, a ``cievents.scm.ScmSettings``)."""
    if ref.scm == "github":
        from cievents.compliance.vendors.github import GitHubFetcher

        api = Api(client.api, max_pages=settings.max_pages, headers=_github_auth(settings, client))
        return GitHubFetcher(api, ref.repository)
    api = Api(client.api, max_pages=settings.max_pages)
    if ref.scm == "gitlab":
        from cievents.compliance.vendors.gitlab import GitLabFetcher

        return GitLabFetcher(api, ref.repository)
    if ref.scm == "bitbucket":
        from cievents.compliance.vendors.bitbucket import BitbucketFetcher

        return BitbucketFetcher(api, ref.repository)
    from cievents.compliance.vendors.azure import AzureFetcher

    org, project, name = (quote(p, safe="") for p in ref.repository.split("/", 2))
    return AzureFetcher(api, ref.repository, f"/{org}/{project}/_apis/git/repositories/{name}")
