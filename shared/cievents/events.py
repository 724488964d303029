"""Typed, normalized events: what every function acts on, whatever the vendor.

Each source module (``cievents.sources.<vendor>``) turns a vendor payload
into one of these. They are frozen dataclasses so a function cannot change an
event another concern will read, and ``to_dict`` gives the stable JSON that
``cievents parse`` prints (datetimes as RFC 3339, the raw payload left out).

Kinds: ``build``, ``job``, ``push``, ``pull_request``, ``status``,
``work_item``, ``ping``, ``other``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

from cievents.jirakeys import LazyKeys

FINAL_BUILD_STATES = frozenset(
    {"passed", "failed", "canceled", "skipped", "not_run", "blocked", "waiting_failed"}
)
FAILED_STATES = frozenset({"failed", "waiting_failed"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Event):
        return value.to_dict()
    if isinstance(value, CommitInfo | ChangedField):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list | LazyKeys):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Event:
    """Fields every normalized event has."""

    kind: ClassVar[str] = "other"

    source: str
    event: str
    delivery_id: str | None = None
    repository: str | None = None
    branch: str | None = None
    commit: str | None = None
    url: str | None = None
    jira_keys: Sequence[str] = ()  # a tuple, or jirakeys.LazyKeys (computed when read)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # Equality, hash and repr are written once here rather than generated for each of the
    # nine event classes (``eq=False, repr=False``): generating and compiling them was a
    # third of the module's import, which every function pays at cold start. They behave
    # as the generated ones: same class and compared fields, ``raw`` left out of all three.
    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if f.compare)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Event)
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"{self.__class__.__qualname__}({shown})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "event": self.event, "kind": self.kind}
        for f in fields(self):
            if f.name in ("raw", "source", "event"):
                continue
            out[f.name] = _plain(getattr(self, f.name))
        return out


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class BuildEvent(Event):
    """A CI build (Buildkite build, GitLab pipeline, GitHub workflow run, Azure build)."""

    kind: ClassVar[str] = "build"

    pipeline: str
    number: int
    state: str
    pipeline_name: str | None = None
    organization: str | None = None
    build_id: str | None = None
    blocked: bool = False
    message: str | None = None
    author: str | None = None
    author_email: str | None = None
    creator: str | None = None
    build_source: str | None = None
    tag: str | None = None
    created_at: datetime | None = None
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    pull_request: int | None = None
    pull_request_repository: str | None = None
    api_url: str | None = None

    @property
    def is_final(self) -> bool:
        return self.finished_at is not None or self.state in FINAL_BUILD_STATES

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES

    @property
    def short_commit(self) -> str:
        return (self.commit or "")[:7]


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class JobEvent(Event):
    """One job (step) of a build; Buildkite ``job.*`` events, GitLab job hooks."""

    kind: ClassVar[str] = "job"

    pipeline: str
    number: int
    job_id: str
    state: str
    job_name: str | None = None
    job_type: str | None = None
    step_key: str | None = None
    build_id: str | None = None
    build_state: str | None = None
    build_url: str | None = None
    organization: str | None = None
    message: str | None = None
    author: str | None = None
    author_email: str | None = None
    exit_status: int | None = None
    soft_failed: bool = False
    agent: str | None = None
    log_url: str | None = None
    retried: bool = False
    retries_count: int = 0
    retry_source: str | None = None
    created_at: datetime | None = None
    scheduled_at: datetime | None = None
    runnable_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    pull_request: int | None = None

    @property
    def failed(self) -> bool:
        if self.soft_failed:
            return False
        if self.exit_status is not None:
            return self.exit_status != 0
        return self.state in ("failed", "timed_out", "broken")


@dataclass(frozen=True, kw_only=True)
class CommitInfo:
    id: str
    message: str = ""
    author: str | None = None
    author_email: str | None = None
    timestamp: datetime | None = None
    url: str | None = None


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class PushEvent(Event):
    """Commits (or a tag) pushed to a ref."""

    kind: ClassVar[str] = "push"

    ref: str | None = None
    tag: str | None = None
    before: str | None = None
    created: bool = False
    deleted: bool = False
    forced: bool = False
    pusher: str | None = None
    commits: tuple[CommitInfo, ...] = ()


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class PullRequestEvent(Event):
    """A pull or merge request. ``action`` is one of opened, updated, merged, closed,
    reopened, other; ``branch`` and ``commit`` are the head's."""

    kind: ClassVar[str] = "pull_request"

    number: int
    action: str
    title: str = ""
    state: str | None = None
    base_branch: str | None = None
    author: str | None = None
    merged: bool = False
    merge_commit: str | None = None
    draft: bool = False


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class StatusEvent(Event):
    """A commit status, check run / suite, or other CI result reported on a commit."""

    kind: ClassVar[str] = "status"

    state: str
    name: str | None = None
    description: str | None = None
    conclusion: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChangedField:
    field: str
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class WorkItemEvent(Event):
    """A Jira issue or Azure Boards work item created, updated or deleted."""

    kind: ClassVar[str] = "work_item"

    item_id: str
    action: str
    key: str | None = None
    project: str | None = None
    title: str | None = None
    item_type: str | None = None
    status: str | None = None
    status_from: str | None = None
    status_to: str | None = None
    resolution: str | None = None
    labels: tuple[str, ...] = ()
    changes: tuple[ChangedField, ...] = ()
    actor: str | None = None


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class PingEvent(Event):
    """A webhook's own test delivery."""

    kind: ClassVar[str] = "ping"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class OtherEvent(Event):
    """A well-formed event no function acts on (agents, comments, deployments…)."""

    kind: ClassVar[str] = "other"

    action: str | None = None
