"""Repository listers of GitHub, GitLab, Bitbucket Cloud and Azure DevOps, each paged its own way.

A lister yields its *owners* (what a listing is split by, and what a resumed sync skips
once done), then each owner's repositories as ``Repo`` records, one page in memory:

* GitHub (``Link`` header): ``GET /orgs/{org}/repos?type=all`` for each of
  ``INVENTORY_GITHUB_ORGS``; with a GitHub App, every installation of the App
  (``GET /app/installations`` with the App's JWT, then ``GET /installation/repositories``
  with each installation's token); with a token and no organizations, ``GET /user/repos``.
  Incremental: ``sort=updated&direction=desc`` read until ``updated_at`` is older than the
  last sync.
* GitLab (keyset pagination, ``Link`` header): groups from ``INVENTORY_GITLAB_GROUPS`` or
  ``GET /groups?top_level_only=true&pagination=keyset&order_by=name``; each group's
  projects, subgroups included, by ``GET /groups/{id}/projects?include_subgroups=true&
  pagination=keyset&order_by=id&sort=asc&statistics=true``. Incremental:
  ``last_activity_after``.
* Bitbucket Cloud (``next`` URLs): workspaces from ``INVENTORY_BITBUCKET_WORKSPACES`` or
  ``GET /user/permissions/workspaces``; ``GET /repositories/{workspace}``. Incremental:
  ``q=updated_on>"…"`` and ``sort=-updated_on``.
* Azure DevOps (continuation tokens): each of ``INVENTORY_AZURE_ORGS`` →
  ``GET {org}/_apis/projects?$top=100&continuationToken=…`` (``x-ms-continuationtoken``
  answer header) → ``GET {org}/{project}/_apis/git/repositories``. Azure has no "changed
  since" filter: incremental lists it all and writes only what changed.

``repo(ref)`` re-reads one repository by its stable id (a webhook's repository).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from cievents.config import Env, env_list
from cievents.inventory.listing import Listing, ListingSettings, Pacer
from cievents.inventory.model import Repo, Scm, parse_time
from cievents.scm.base import dict_list, json_next, link_next

__all__ = [
    "AZURE_API_VERSION",
    "AzureLister",
    "BitbucketLister",
    "GitHubLister",
    "GitLabLister",
    "Lister",
    "RepoRef",
    "listers",
]

AZURE_API_VERSION = "7.1"


@dataclass(frozen=True)
class RepoRef:
    """What an event says about a repository: enough to re-read it by its stable id, and the
    branches a push moved (branch name → new head), of which the default branch's is kept."""

    scm: Scm
    id: str | None
    full_name: str | None = None
    owner: str | None = None  # Bitbucket workspace, Azure "org/project"
    pushed: tuple[tuple[str, str], ...] = ()
    deleted: bool = False

    def head_of(self, branch: str | None) -> str | None:
        """The new head of ``branch`` if this push moved it."""
        return dict(self.pushed).get(branch) if branch else None


def _kb(size_bytes: Any) -> int | None:
    return int(size_bytes) // 1024 if isinstance(size_bytes, int | float) else None


def _s(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class Lister:
    """The common shape; each vendor fills ``owners``, ``repos`` and ``repo``."""

    scm: Scm
    listing: Listing
    client: Any  # the cievents.scm client of this vendor (the posture audit reads with it)

    def owners(self) -> Iterator[str]:
        raise NotImplementedError

    def repos(self, owner: str, since: datetime | None = None) -> Iterator[Repo]:
        raise NotImplementedError

    def repo(self, ref: RepoRef) -> Repo | None:
        raise NotImplementedError

    def covers(self, owner: str, repo_owner: str) -> bool | None:
        """Whether listing ``owner`` lists the repositories whose ``Repo.owner`` is
        ``repo_owner`` (None: cannot tell, e.g. a GitHub App installation)."""
        return owner == repo_owner

    @property
    def complete(self) -> bool:
        return self.listing.complete


def _listing(client: Any, scm: str, settings: ListingSettings, sleep: Any) -> Listing:
    headers: Callable[[], Mapping[str, str]] = getattr(client, "auth_headers", dict)
    return Listing(
        client.api,
        Pacer(scm, settings.reserve, settings.max_wait_s, sleep or time.sleep),
        settings,
        headers=headers,
    )


# -- GitHub ------------------------------------------------------------------------------
def github_repo(item: Mapping[str, Any]) -> Repo:
    """A REST repository object (list, ``GET /repositories/{id}``, or a webhook's)."""
    visibility = _s(item.get("visibility")) or ("private" if item.get("private") else "public")
    pushed = item.get("pushed_at")
    size = item.get("size")
    language = _s(item.get("language"))
    return Repo(
        scm="github",
        id=str(item["id"]),
        owner=_s(_d(item.get("owner")).get("login"))
        or str(item.get("full_name", "/")).split("/")[0],
        name=str(item.get("name") or ""),
        full_name=str(item.get("full_name") or ""),
        web_url=str(item.get("html_url") or ""),
        visibility=visibility if visibility in ("public", "private", "internal") else "private",  # type: ignore[arg-type]
        archived=bool(item.get("archived")),
        disabled=bool(item.get("disabled")),
        empty=size == 0,
        default_branch=_s(item.get("default_branch")),
        # A push event's repository carries pushed_at as epoch seconds.
        last_push=datetime.fromtimestamp(pushed, tz=UTC)
        if isinstance(pushed, int | float) and not isinstance(pushed, bool)
        else parse_time(pushed),
        languages=(language,) if language else (),
        size_kb=int(size) if isinstance(size, int) else None,
    )


class GitHubLister(Lister):
    scm: Scm = "github"

    def __init__(
        self,
        client: Any,
        orgs: tuple[str, ...],
        settings: ListingSettings,
        sleep: Any = None,
        app_client: Callable[[str], Any] | None = None,
    ) -> None:
        self.client = client
        self.orgs = orgs
        self.settings = settings
        self.listing = _listing(client, "github", settings, sleep)
        self._app_client = app_client
        self._per_installation: dict[str, Listing] = {}

    def owners(self) -> Iterator[str]:
        for org in self.orgs:
            yield f"org:{org}"
        if self._app_client is not None:
            for inst in self._installations(self.client.app_jwt()):
                yield f"installation:{inst}"
        elif not self.orgs:
            yield "user"

    def _installations(self, jwt: str) -> Iterator[str]:
        listing = Listing(
            self.client.api,
            self.listing.pacer,
            self.settings,
            headers=lambda: {"Authorization": f"Bearer {jwt}"},
        )
        for inst in listing.pages(
            "/app/installations",
            items=dict_list(None),
            next_page=link_next,
            params={"per_page": self.settings.per_page},
            what="github list App installations",
        ):
            if inst.get("id") is not None:
                yield str(inst["id"])
        self.listing.absorb(listing)

    def repos(self, owner: str, since: datetime | None = None) -> Iterator[Repo]:
        kind, _, name = owner.partition(":")
        params: dict[str, Any] = {"per_page": self.settings.per_page}
        listing = self.listing
        if kind == "installation":
            assert self._app_client is not None
            client = self._app_client(name)
            listing = _listing(client, "github", self.settings, None)
            listing.pacer = self.listing.pacer
            path, items = "/installation/repositories", dict_list("repositories")
        elif kind == "org":
            path, items = f"/orgs/{quote(name)}/repos", dict_list(None)
            params["type"] = "all"
        else:
            path, items = "/user/repos", dict_list(None)
        if since is not None and kind != "installation":
            params.update(sort="updated", direction="desc")
        try:
            for item in listing.pages(
                path,
                items=items,
                next_page=link_next,
                params=params,
                what=f"github list repositories of {owner}",
            ):
                updated = parse_time(item.get("updated_at"))
                pushed = parse_time(item.get("pushed_at"))
                if since is not None and kind != "installation":
                    newest = max((t for t in (updated, pushed) if t), default=None)
                    if newest is not None and newest < since:
                        return  # sorted by update, newest first: the rest is older
                yield github_repo(item)
        finally:
            if listing is not self.listing:
                self.listing.absorb(listing)

    def covers(self, owner: str, repo_owner: str) -> bool | None:
        kind, _, name = owner.partition(":")
        return name == repo_owner if kind == "org" else None

    def repo(self, ref: RepoRef) -> Repo | None:
        path = f"/repositories/{ref.id}" if ref.id else f"/repos/{ref.full_name}"
        item = self.listing.get(path, what=f"github get repository {ref.id or ref.full_name}")
        return github_repo(item) if isinstance(item, Mapping) else None


# -- GitLab ------------------------------------------------------------------------------
def gitlab_repo(item: Mapping[str, Any]) -> Repo:
    namespace = _d(item.get("namespace"))
    stats = _d(item.get("statistics"))
    visibility = _s(item.get("visibility")) or "private"
    return Repo(
        scm="gitlab",
        id=str(item["id"]),
        owner=_s(namespace.get("full_path"))
        or str(item.get("path_with_namespace", "")).rpartition("/")[0],
        name=str(item.get("path") or item.get("name") or ""),
        full_name=str(item.get("path_with_namespace") or ""),
        web_url=str(item.get("web_url") or ""),
        visibility=visibility if visibility in ("public", "private", "internal") else "private",  # type: ignore[arg-type]
        archived=bool(item.get("archived")),
        empty=bool(item.get("empty_repo")),
        default_branch=_s(item.get("default_branch")),
        last_push=parse_time(item.get("last_activity_at")),
        size_kb=_kb(stats.get("repository_size")),
    )


class GitLabLister(Lister):
    scm: Scm = "gitlab"

    def __init__(
        self, client: Any, groups: tuple[str, ...], settings: ListingSettings, sleep: Any = None
    ) -> None:
        self.client = client
        self.groups = groups
        self.settings = settings
        self.listing = _listing(client, "gitlab", settings, sleep)

    def owners(self) -> Iterator[str]:
        if self.groups:
            yield from self.groups
            return
        for group in self.listing.pages(
            "/groups",
            items=dict_list(None),
            next_page=link_next,
            params={
                "top_level_only": "true",
                "pagination": "keyset",
                "order_by": "name",
                "sort": "asc",
                "per_page": self.settings.per_page,
            },
            what="gitlab list groups",
        ):
            path = _s(group.get("full_path")) or _s(group.get("id"))
            if path:
                yield path

    def repos(self, owner: str, since: datetime | None = None) -> Iterator[Repo]:
        params: dict[str, Any] = {
            "include_subgroups": "true",
            "pagination": "keyset",
            "order_by": "id",
            "sort": "asc",
            "statistics": "true",
            "per_page": self.settings.per_page,
        }
        if since is not None:
            params["last_activity_after"] = since.isoformat().replace("+00:00", "Z")
        for item in self.listing.pages(
            f"/groups/{quote(owner, safe='')}/projects",
            items=dict_list(None),
            next_page=link_next,
            params=params,
            what=f"gitlab list projects of {owner}",
        ):
            yield gitlab_repo(item)

    def covers(self, owner: str, repo_owner: str) -> bool | None:
        return repo_owner == owner or repo_owner.startswith(owner + "/")  # subgroups too

    def repo(self, ref: RepoRef) -> Repo | None:
        ident = ref.id or quote(ref.full_name or "", safe="")
        item = self.listing.get(
            f"/projects/{ident}",
            params={"statistics": "true"},
            what=f"gitlab get project {ref.id or ref.full_name}",
        )
        return gitlab_repo(item) if isinstance(item, Mapping) else None


# -- Bitbucket Cloud ---------------------------------------------------------------------
def bitbucket_repo(item: Mapping[str, Any]) -> Repo:
    full = str(item.get("full_name") or "")
    workspace = _s(_d(item.get("workspace")).get("slug")) or full.partition("/")[0]
    main = _d(item.get("mainbranch"))
    language = _s(item.get("language"))
    size = item.get("size")
    return Repo(
        scm="bitbucket",
        id=str(item["uuid"]),
        owner=workspace,
        name=_s(item.get("slug")) or full.partition("/")[2],
        full_name=full,
        web_url=str(_d(_d(item.get("links")).get("html")).get("href") or ""),
        visibility="private" if item.get("is_private") else "public",
        empty=size == 0 and not main,
        default_branch=_s(main.get("name")),
        last_push=parse_time(item.get("updated_on")),
        languages=(language,) if language else (),
        size_kb=_kb(size),
    )


class BitbucketLister(Lister):
    scm: Scm = "bitbucket"

    def __init__(
        self, client: Any, workspaces: tuple[str, ...], settings: ListingSettings, sleep: Any = None
    ) -> None:
        self.client = client
        self.workspaces = workspaces
        self.settings = settings
        self.listing = _listing(client, "bitbucket", settings, sleep)

    def owners(self) -> Iterator[str]:
        if self.workspaces:
            yield from self.workspaces
            return
        for perm in self.listing.pages(
            "/user/permissions/workspaces",
            items=dict_list("values"),
            next_page=json_next,
            params={"pagelen": self.settings.per_page},
            what="bitbucket list workspaces",
        ):
            slug = _s(_d(perm.get("workspace")).get("slug"))
            if slug:
                yield slug

    def repos(self, owner: str, since: datetime | None = None) -> Iterator[Repo]:
        params: dict[str, Any] = {"pagelen": min(self.settings.per_page, 100)}
        if since is not None:
            params["q"] = f"updated_on > {since.isoformat()}"
            params["sort"] = "-updated_on"
        for item in self.listing.pages(
            f"/repositories/{quote(owner)}",
            items=dict_list("values"),
            next_page=json_next,
            params=params,
            what=f"bitbucket list repositories of {owner}",
        ):
            yield bitbucket_repo(item)

    def repo(self, ref: RepoRef) -> Repo | None:
        workspace = ref.owner or (ref.full_name or "").partition("/")[0]
        slug = quote(ref.id, safe="{}") if ref.id else (ref.full_name or "").partition("/")[2]
        item = self.listing.get(
            f"/repositories/{quote(workspace)}/{slug}",
            what=f"bitbucket get repository {ref.full_name or ref.id}",
        )
        return bitbucket_repo(item) if isinstance(item, Mapping) else None


# -- Azure DevOps ------------------------------------------------------------------------
def azure_repo(item: Mapping[str, Any], org: str) -> Repo:
    project = _d(item.get("project"))
    project_name = str(project.get("name") or "")
    branch = _s(item.get("defaultBranch"))
    size = item.get("size")
    visibility = str(project.get("visibility") or "private").lower()
    return Repo(
        scm="azure",
        id=str(item["id"]),
        owner=f"{org}/{project_name}",
        name=str(item.get("name") or ""),
        full_name=f"{org}/{project_name}/{item.get('name') or ''}",
        web_url=str(item.get("webUrl") or ""),
        visibility="public" if visibility == "public" else "private",
        disabled=bool(item.get("isDisabled")),
        empty=size == 0 or not branch,
        default_branch=branch.removeprefix("refs/heads/") if branch else None,
        size_kb=_kb(size),
    )


def _continuation(response: Any, body: Any) -> tuple[str, dict[str, Any] | None] | None:
    token = (getattr(response, "headers", None) or {}).get("x-ms-continuationtoken")
    if not token:
        return None
    url = str(response.url)
    base = url.split("?", 1)[0]
    params = {"api-version": AZURE_API_VERSION, "continuationToken": token}
    if "$top=" in url:
        params["$top"] = url.split("$top=", 1)[1].split("&", 1)[0]
    return base, params


class AzureLister(Lister):
    scm: Scm = "azure"

    def __init__(
        self, client: Any, orgs: tuple[str, ...], settings: ListingSettings, sleep: Any = None
    ) -> None:
        self.client = client
        self.orgs = orgs
        self.settings = settings
        self.listing = _listing(client, "azure", settings, sleep)

    def owners(self) -> Iterator[str]:
        for org in self.orgs:
            for project in self.listing.pages(
                f"/{quote(org)}/_apis/projects",
                items=dict_list("value"),
                next_page=_continuation,
                params={"api-version": AZURE_API_VERSION, "$top": self.settings.per_page},
                what=f"azure list projects of {org}",
            ):
                name = _s(project.get("name"))
                if name:
                    yield f"{org}/{name}"

    def repos(self, owner: str, since: datetime | None = None) -> Iterator[Repo]:
        org, _, project = owner.partition("/")
        for item in self.listing.pages(
            f"/{quote(org)}/{quote(project)}/_apis/git/repositories",
            items=dict_list("value"),
            next_page=_continuation,
            params={"api-version": AZURE_API_VERSION},
            what=f"azure list repositories of {owner}",
        ):
            yield azure_repo(item, org)

    def repo(self, ref: RepoRef) -> Repo | None:
        org, _, project = (ref.owner or "").partition("/")
        item = self.listing.get(
            f"/{quote(org)}/{quote(project)}/_apis/git/repositories/{ref.id}",
            params={"api-version": AZURE_API_VERSION},
            what=f"azure get repository {ref.full_name or ref.id}",
        )
        return azure_repo(item, org) if isinstance(item, Mapping) else None


def listers(
    scm_settings: Any,
    settings: ListingSettings,
    only: tuple[str, ...] = (),
    environ: Env | None = None,
    sleep: Any = None,
) -> list[Lister]:
    """The listers of every SCM with credentials (``only``: just those), from the settings:
    ``INVENTORY_GITHUB_ORGS``, ``INVENTORY_GITLAB_GROUPS``, ``INVENTORY_BITBUCKET_WORKSPACES``,
    ``INVENTORY_AZURE_ORGS`` (comma-separated)."""
    from cievents.scm.github import AppCredentials

    out: list[Lister] = []
    wanted = set(only)

    def want(scm: str, provider: str) -> bool:
        return (not wanted or scm in wanted) and scm_settings.has_credentials(provider)

    if want("github", "github"):
        client = scm_settings.client("github")
        app = scm_settings.app
        app_client = None
        if app is not None:

            def app_client(installation: str) -> Any:
                from cievents.scm.github import GitHubClient

                return GitHubClient(
                    api_url=scm_settings.github_api,
                    app=AppCredentials(app.app_id, app.private_key, installation),
                )

        out.append(
            GitHubLister(
                client,
                env_list("INVENTORY_GITHUB_ORGS", environ=environ),
                settings,
                sleep,
                app_client,
            )
        )
    others: tuple[tuple[str, str, str, Any], ...] = (
        ("gitlab", "gitlab", "INVENTORY_GITLAB_GROUPS", GitLabLister),
        ("bitbucket", "bitbucket", "INVENTORY_BITBUCKET_WORKSPACES", BitbucketLister),
        ("azure", "azure-repos", "INVENTORY_AZURE_ORGS", AzureLister),
    )
    for scm, provider, setting, kind in others:
        if want(scm, provider):
            owners = env_list(setting, environ=environ)
            out.append(kind(scm_settings.client(provider), owners, settings, sleep))
    return out
