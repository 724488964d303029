"""Fleets of fake repositories on the four SCM fakes, in each vendor's REST shape, and the
settings that point the inventory at them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from cievents.inventory.model import Repo
from tests.support.fakes import azure_devops, bitbucket, github, gitlab

TOKEN = "inventory-test-token-not-real"
STAMP = "2026-01-0{d}T10:00:00Z"


def record(**changes: object) -> Repo:
    """A ``Repo`` with plausible defaults (a GitHub repository), ``changes`` applied."""
    base: dict[str, object] = {
        "scm": "github",
        "id": "123",
        "owner": "acme",
        "name": "api",
        "full_name": "acme/api",
        "web_url": "https://github.com/acme/api",
        "visibility": "private",
    }
    base.update(changes)
    return Repo(**base)  # type: ignore[arg-type]


def github_repo(i: int, org: str) -> dict[str, Any]:
    return {
        "id": 100_000 + i,
        "name": f"svc-{i}",
        "full_name": f"{org}/svc-{i}",
        "owner": {"login": org},
        "html_url": f"https://github.com/{org}/svc-{i}",
        "private": i % 3 != 0,
        "visibility": "public" if i % 3 == 0 else "private",
        "archived": i % 10 == 7,
        "disabled": False,
        "size": 0 if i % 25 == 0 else 100 + i,
        "default_branch": "main",
        "pushed_at": STAMP.format(d=1 + i % 5),
        "updated_at": STAMP.format(d=1 + i % 5),
        "language": "Python" if i % 2 else "Go",
    }


def gitlab_project(i: int, group: str) -> dict[str, Any]:
    return {
        "id": 200_000 + i,
        "path": f"proj-{i}",
        "name": f"proj-{i}",
        "path_with_namespace": f"{group}/proj-{i}",
        "namespace": {"full_path": group},
        "web_url": f"https://gitlab.com/{group}/proj-{i}",
        "visibility": ("private", "internal", "public")[i % 3],
        "archived": i % 9 == 4,
        "empty_repo": i % 30 == 0,
        "default_branch": "main",
        "last_activity_at": STAMP.format(d=1 + i % 5),
        "statistics": {"repository_size": 2048 * (i + 1)},
    }


def bitbucket_repo(i: int, workspace: str) -> dict[str, Any]:
    return {
        "uuid": "{" + str(uuid.UUID(int=300_000 + i)) + "}",
        "slug": f"app-{i}",
        "full_name": f"{workspace}/app-{i}",
        "workspace": {"slug": workspace},
        "links": {"html": {"href": f"https://bitbucket.org/{workspace}/app-{i}"}},
        "is_private": i % 4 != 0,
        "mainbranch": {"name": "master", "type": "branch"},
        "updated_on": STAMP.format(d=1 + i % 5).replace("Z", ".123456+00:00"),
        "language": "java",
        "size": 4096 * (i + 1),
    }


def azure_repo(i: int, org: str, project: str) -> dict[str, Any]:
    ident = str(uuid.UUID(int=400_000 + i))
    return {
        "_org": org,
        "id": ident,
        "name": f"repo-{i}",
        "url": f"https://dev.azure.com/{org}/{project}/_apis/git/repositories/{ident}",
        "webUrl": f"https://dev.azure.com/{org}/{project}/_git/repo-{i}",
        "project": {"id": f"p-{project}", "name": project, "visibility": "private"},
        "defaultBranch": "refs/heads/main",
        "size": 1024 * (i + 1),
        "isDisabled": i % 17 == 3,
    }


@dataclass
class Fleet:
    github: github.FakeGitHub
    gitlab: gitlab.FakeGitLab
    bitbucket: bitbucket.FakeBitbucket
    azure: azure_devops.FakeAzureDevOps
    counts: dict[str, int]

    def env(self) -> dict[str, str]:
        return {
            "GITHUB_API_URL": self.github.url,
            "GITHUB_TOKEN": TOKEN,
            "INVENTORY_GITHUB_ORGS": "acme,acme-labs",
            "GITLAB_API_URL": self.gitlab.url,
            "GITLAB_TOKEN": TOKEN,
            "BITBUCKET_API_URL": self.bitbucket.url,
            "BITBUCKET_TOKEN": TOKEN,
            "AZURE_DEVOPS_API_URL": self.azure.url,
            "AZURE_DEVOPS_PAT": TOKEN,
            "INVENTORY_AZURE_ORGS": "fabrikam",
            "INVENTORY_PER_PAGE": "100",
        }

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@contextmanager
def fleet(
    github_n: int = 250,
    gitlab_n: int = 250,
    bitbucket_n: int = 250,
    azure_n: int = 250,
    page_size: int = 30,
) -> Iterator[Fleet]:
    """Fakes holding that many repositories each, paging ``page_size`` at a time."""
    with ExitStack() as stack:
        gh = stack.enter_context(github.FakeGitHub(tokens=(TOKEN,), page_size=page_size))
        gl = stack.enter_context(gitlab.FakeGitLab(tokens=(TOKEN,), page_size=page_size))
        bb = stack.enter_context(bitbucket.FakeBitbucket(tokens=(TOKEN,), page_size=page_size))
        az = stack.enter_context(azure_devops.FakeAzureDevOps(pats=(TOKEN,), page_size=page_size))
        for serve, fake in (
            (github.serve_repositories, gh),
            (gitlab.serve_repositories, gl),
            (bitbucket.serve_repositories, bb),
            (azure_devops.serve_repositories, az),
        ):
            serve(fake)  # type: ignore[arg-type]
        for i in range(github_n):
            repo = github_repo(i, "acme" if i % 2 else "acme-labs")
            gh.inventory[repo["id"]] = repo  # type: ignore[attr-defined]
        gl.groups.extend(["platform", "platform/infra", "platform/infra/deep", "data"])  # type: ignore[attr-defined]
        groups = ["platform", "platform/infra", "platform/infra/deep", "data"]
        for i in range(gitlab_n):
            project = gitlab_project(i, groups[i % 4])
            gl.inventory[project["id"]] = project  # type: ignore[attr-defined]
        for i in range(bitbucket_n):
            repo = bitbucket_repo(i, ("team-a", "team-b", "team-c")[i % 3])
            bb.inventory[repo["uuid"]] = repo  # type: ignore[attr-defined]
        for i in range(azure_n):
            repo = azure_repo(i, "fabrikam", f"Project{i % 40:02d}")
            az.inventory[repo["id"]] = repo  # type: ignore[attr-defined]
        yield Fleet(
            gh,
            gl,
            bb,
            az,
            {"github": github_n, "gitlab": gitlab_n, "bitbucket": bitbucket_n, "azure": azure_n},
        )
