"""Repository URL → provider, host and path, for the ssh and https forms people use.

    git@github.com:acme/web.git                         → github, github.com, acme/web
    ssh://git@gitlab.example.com:2222/group/sub/app.git → gitlab (if the host is listed)
    https://bitbucket.org/team/app                      → bitbucket, bitbucket.org, team/app
    https://dev.azure.com/org/project/_git/repo         → azure-repos, org/project/repo
    git@ssh.dev.azure.com:v3/org/project/repo           → azure-repos (same path)
    https://org.visualstudio.com/project/_git/repo      → azure-repos, org.visualstudio.com
    https://bitbucket.example.com/scm/PROJ/repo.git     → bitbucket-server (if the host is listed)
    ssh://git@bitbucket.example.com:7999/proj/repo.git  → bitbucket-server, PROJ/repo
    https://bitbucket.example.com/projects/PROJ/repos/repo/browse → bitbucket-server

GitHub Enterprise, self-managed GitLab and Bitbucket Data Center hosts are
recognised when listed in ``GITHUB_ENTERPRISE_HOSTS`` / ``GITLAB_HOSTS`` /
``BITBUCKET_SERVER_HOSTS`` (comma-separated). Azure DevOps Server (on-premises)
collections are not recognised: their URLs carry no marker of the product.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["PROVIDERS", "Repository", "parse_repository"]

PROVIDERS = ("github", "gitlab", "bitbucket", "bitbucket-server", "azure-repos")

_SCP = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?!//)(?P<path>[^\s]+)$")
_URL = re.compile(
    r"^(?:[a-z+]+)://(?:(?P<user>[^@/]+)@)?(?P<host>[\w.-]+)(?::\d+)?/(?P<path>[^\s?#]+)"
)


@dataclass(frozen=True)
class Repository:
    provider: str  # one of PROVIDERS
    host: str
    path: str  # owner/name; GitLab group/subgroup/name; Azure org/project/repo; DC PROJECT/repo

    @property
    def owner(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def _azure(host: str, path: str) -> Repository | None:
    parts = [unquote(p) for p in path.split("/") if p]
    if host == "ssh.dev.azure.com":
        # v3/{org}/{project}/{repo}
        if len(parts) == 4 and parts[0] == "v3":
            return Repository("azure-repos", "dev.azure.com", "/".join(parts[1:]))
        return None
    if host == "vs-ssh.visualstudio.com" or host.endswith(".vs-ssh.visualstudio.com"):
        # {org}@vs-ssh.visualstudio.com:v3/{org}/{project}/{repo}
        if len(parts) == 4 and parts[0] == "v3":
            return Repository("azure-repos", f"{parts[1]}.visualstudio.com", "/".join(parts[1:]))
        return None
    if "_git" not in parts:
        return None
    at = parts.index("_git")
    if at + 1 >= len(parts):
        return None
    repo = parts[at + 1]
    before = parts[:at]
    if host == "dev.azure.com":
        # {org}/{project}/_git/{repo}, or {org}/_git/{repo} when repo and project share a name
        if not before:
            return None
        org, project = before[0], before[1] if len(before) > 1 else repo
        return Repository("azure-repos", host, f"{org}/{project}/{repo}")
    # {org}.visualstudio.com/[DefaultCollection/]{project}/_git/{repo}
    org = host.split(".", 1)[0]
    rest = [p for p in before if p.lower() != "defaultcollection"]
    project = rest[-1] if rest else repo
    return Repository("azure-repos", host, f"{org}/{project}/{repo}")


def _bitbucket_server(host: str, path: str) -> Repository | None:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["scm"]:
        parts = parts[1:]
    elif parts[:1] == ["projects"] and len(parts) >= 4 and parts[2] == "repos":
        parts = [parts[1], parts[3]]
    elif parts[:1] == ["users"] and len(parts) >= 4 and parts[2] == "repos":
        parts = [f"~{parts[1]}", parts[3]]
    if len(parts) < 2:
        return None
    project, slug = parts[0], parts[1].removesuffix(".git")
    # Project keys are upper case; a personal repository's key is ~user (kept as is).
    return Repository(
        "bitbucket-server",
        host,
        f"{project if project.startswith('~') else project.upper()}/{slug}",
    )


def parse_repository(
    url: str | None,
    github_hosts: Iterable[str] = (),
    gitlab_hosts: Iterable[str] = (),
    bitbucket_server_hosts: Iterable[str] = (),
) -> Repository | None:
    """The repository a clone or web URL points at, or None for hosts we cannot set statuses on."""
    if not url:
        return None
    text = url.strip()
    match = _URL.match(text) or _SCP.match(text)
    if not match:
        return None
    host = match.group("host").lower()
    raw_path = match.group("path").strip("/")
    if host in ("dev.azure.com", "ssh.dev.azure.com") or host.endswith((".visualstudio.com",)):
        return _azure(host, raw_path.removesuffix(".git"))
    if host in {h.lower() for h in bitbucket_server_hosts}:
        return _bitbucket_server(host, raw_path)
    path = raw_path.removesuffix(".git").strip("/")
    if path.count("/") < 1:
        return None
    github = {"github.com", *(h.lower() for h in github_hosts)}
    gitlab = {"gitlab.com", *(h.lower() for h in gitlab_hosts)}
    if host in github:
        return Repository("github", host, "/".join(path.split("/")[:2]))
    if host in gitlab:
        return Repository("gitlab", host, path)
    if host == "bitbucket.org":
        return Repository("bitbucket", host, "/".join(path.split("/")[:2]))
    return None
