"""The SCM annotation surface: what every source-control client offers a function.

A function that reports on a pull request needs three things from the SCM,
whichever it is:

* ``upsert_comment(pr, key, body, create=True)``: one comment per PR and ``key``,
  found again by a hidden marker and edited in place (never a second one); with
  ``create=False`` only an existing one is edited (None when there is none);
* ``set_status(repo, sha, state, context, description, target_url)``: a commit
  status a branch protection rule can require;
* ``publish_check(pr, report)``: a check with line annotations, in the SCM's own
  shape (GitHub check run, GitLab commit status + line discussions, Bitbucket
  Code Insights report + build status, Azure Repos PR status + commit status +
  line threads); ``Published`` says what was written and, where the credentials
  could not do the native thing, what was done instead.

and to read the PR: ``pull_request(pr)`` (the current head) and
``added_lines(pr, max_bytes)`` (the diff, added lines only, bounded).

States are the surface's own: ``pending``, ``success``, ``failure``, ``error``,
``neutral``; each client maps them to the vendor's words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cievents import log
from cievents.http import HttpClient
from cievents.vcs.repo import Repository

__all__ = [
    "STATES",
    "Annotation",
    "CheckReport",
    "HeadInfo",
    "NotScannedError",
    "Published",
    "PullRequest",
    "ScmClient",
    "hidden_marker",
    "paginate",
]

STATES = ("pending", "success", "failure", "error", "neutral")
DEFAULT_MAX_PAGES = 20


class NotScannedError(Exception):
    """The PR cannot be read (no credentials for its SCM): say so, never report success."""


@dataclass(frozen=True)
class PullRequest:
    """A pull / merge request: its repository, number and (as the event saw it) head."""

    repository: Repository
    number: int
    head_sha: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class HeadInfo:
    """A PR's state as the SCM reports it now (events arrive late and out of order)."""

    head_sha: str
    base_sha: str | None = None
    start_sha: str | None = None  # GitLab diff_refs.start_sha; Azure the merge base
    iteration: int | None = None  # Azure Repos: the PR's latest iteration
    state: str = "open"


@dataclass(frozen=True)
class Annotation:
    """A finding on one line of the PR's new side. ``key`` is stable across runs."""

    path: str
    line: int
    message: str
    title: str = ""
    end_line: int | None = None
    level: str = "failure"  # failure | warning | notice
    key: str = ""


@dataclass(frozen=True)
class CheckReport:
    """A named, required-able check: ``name`` is the status context / check name."""

    name: str
    state: str
    title: str
    summary: str = ""
    details_url: str | None = None
    annotations: tuple[Annotation, ...] = ()

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"check state must be one of {', '.join(STATES)}, not {self.state!r}")


@dataclass(frozen=True)
class Published:
    """What ``publish_check`` wrote: ``kinds`` in the vendor's words, and a note when the
    credentials could not do the native thing (e.g. a commit status instead of a check run)."""

    kinds: tuple[str, ...]
    sha: str
    note: str | None = None
    ids: Mapping[str, str] = field(default_factory=dict)


class ScmClient(Protocol):
    provider: str

    @property
    def can_read(self) -> bool: ...

    def marker(self, key: str) -> str: ...

    def upsert_comment(
        self, pr: PullRequest, key: str, body: str, *, create: bool = True
    ) -> str | None: ...

    def set_status(
        self,
        repo: Repository,
        sha: str,
        state: str,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None: ...

    def publish_check(self, pr: PullRequest, report: CheckReport, head: HeadInfo) -> Published: ...

    def pull_request(self, pr: PullRequest) -> HeadInfo: ...

    def added_lines(self, pr: PullRequest, head: HeadInfo, max_bytes: int) -> Any: ...


def hidden_marker(key: str) -> str:
    """The invisible marker a comment is found again by (HTML comment: GitHub, GitLab, Azure)."""
    return f"<!-- cievents:{key} -->"


def paginate(
    http: HttpClient,
    path: str,
    *,
    items: Callable[[Any], list[Any]],
    next_page: Callable[[Any, Any], tuple[str, dict[str, Any] | None] | None],
    params: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    what: str,
    on_bound: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """Every item of a paged list, at most ``max_pages`` pages; a warning when the bound cut it.

    ``next_page(response, body)`` returns the next (path or URL, params), or None on the last;
    ``on_bound`` is called when the bound stopped the list (a diff reader fails closed then).
    """
    current: tuple[str, dict[str, Any] | None] | None = (path, params)
    pages = 0
    while current is not None:
        if pages >= max_pages:
            log.logger.warning(
                "list stopped at its page bound: later items were not read",
                what=what,
                max_pages=max_pages,
            )
            if on_bound is not None:
                on_bound()
            return
        url, query = current
        response = http.get(url, params=query, headers=headers, what=what)
        pages += 1
        body = response.json()
        yield from items(body)
        current = next_page(response, body)


def link_next(response: Any, body: Any) -> tuple[str, dict[str, Any] | None] | None:
    """RFC 8288 ``Link: <…>; rel="next"`` (GitHub, GitLab): the next URL carries its query."""
    links = getattr(response, "links", None) or {}
    nxt = links.get("next", {}).get("url")
    return (str(nxt), None) if nxt else None


def json_next(response: Any, body: Any) -> tuple[str, dict[str, Any] | None] | None:
    """Bitbucket Cloud: the page body's ``next`` URL."""
    nxt = body.get("next") if isinstance(body, dict) else None
    return (str(nxt), None) if nxt else None


def dict_list(key: str | None) -> Callable[[Any], list[Any]]:
    """The list of objects in a page: the body itself, or ``body[key]``."""

    def pick(body: Any) -> list[Any]:
        value = body if key is None else (body.get(key) if isinstance(body, dict) else None)
        return [v for v in value or [] if isinstance(v, dict)] if isinstance(value, list) else []

    return pick
