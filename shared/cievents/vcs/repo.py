"""Repository URL → provider, host and path, for the ssh and https forms people use.

    git@github.com:acme/web.git        → github, github.com, acme/web
    ssh://git@gitlab.example.com:2222/group/sub/app.git → gitlab (if the host is listed)
    https://bitbucket.org/team/app     → bitbucket, bitbucket.org, team/app

GitHub Enterprise and self-managed GitLab hosts are recognised when listed in
``GITHUB_ENTERPRISE_HOSTS`` / ``GITLAB_HOSTS`` (comma-separated).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SCP = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?!//)(?P<path>[^\s]+)$")
_URL = re.compile(r"^(?:[a-z+]+)://(?:[^@/]+@)?(?P<host>[\w.-]+)(?::\d+)?/(?P<path>[^\s?#]+)")


@dataclass(frozen=True)
class Repository:
    provider: str  # github | gitlab | bitbucket
    host: str
    path: str  # owner/name (GitLab: group/subgroup/name)

    @property
    def owner(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def parse_repository(
    url: str | None,
    github_hosts: Iterable[str] = (),
    gitlab_hosts: Iterable[str] = (),
) -> Repository | None:
    """The repository a clone URL points at, or None for hosts we cannot set statuses on."""
    if not url:
        return None
    text = url.strip()
    match = _URL.match(text) or _SCP.match(text)
    if not match:
        return None
    host = match.group("host").lower()
    path = match.group("path").strip("/").removesuffix(".git").strip("/")
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
