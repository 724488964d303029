"""The one interface every CI log source implements, and the bounded helpers they share.

A *run* is what a CI calls a build (Buildkite build, GitHub workflow run, GitLab
pipeline, Azure build, Bitbucket pipeline); a *job* is the unit that has one log
(Buildkite job, GitHub job, GitLab job, Azure timeline record, Bitbucket step).

    source.jobs(run)  -> the jobs of a finished run (paginated, at most ``max_jobs``)
    source.log(job)   -> the job's log, streamed, at most ``max_log_bytes``

A log that is gone (expired retention, deleted job) is a ``JobLog`` with
``missing`` set, not an error: the other jobs of the run still get scanned.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from cievents import log
from cievents.errors import TransientError, UnknownTargetError
from cievents.http import HttpClient

__all__ = [
    "DEFAULT_MAX_JOBS",
    "DEFAULT_MAX_LOG_BYTES",
    "DEFAULT_MAX_PAGES",
    "HttpLogSource",
    "JobLog",
    "JobRef",
    "LogSource",
    "RunRef",
    "bounded",
    "json_of",
    "read_capped",
]

DEFAULT_MAX_LOG_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_JOBS = 100
DEFAULT_MAX_PAGES = 20
CHUNK = 256 * 1024

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RunRef:
    """One finished run of a CI system, as its API names it.

    ``project`` is the API's container: Buildkite ``org/pipeline``, GitHub
    ``owner/repo``, GitLab project id or path, Azure ``org/project``, Bitbucket
    ``workspace/repo``. ``run_id`` is the build number, run id, pipeline id,
    build id or pipeline UUID.
    """

    system: str
    project: str
    run_id: str
    number: int | None = None
    pipeline: str | None = None
    url: str | None = None
    commit: str | None = None
    branch: str | None = None
    repository: str | None = None
    pull_request: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, kw_only=True)
class JobRef:
    """One job of a run, with what its log download needs (``log_url`` when the API gives one)."""

    run: RunRef
    job_id: str
    name: str
    state: str | None = None
    log_url: str | None = None
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class JobLog:
    job: JobRef
    data: bytes
    truncated: bool = False
    missing: str | None = None  # why there is no log (expired, not found), when there is none


class LogSource(Protocol):
    """What every CI log source offers."""

    system: str
    http: HttpClient

    def jobs(self, run: RunRef) -> list[JobRef]: ...

    def log(self, job: JobRef) -> JobLog: ...


class HttpLogSource:
    """What the REST-API log sources share: one session, the caps, the capped download."""

    system = ""
    sink = ""

    def __init__(
        self,
        *,
        api_url: str,
        headers: dict[str, str],
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        max_jobs: int = DEFAULT_MAX_JOBS,
        max_pages: int = DEFAULT_MAX_PAGES,
        http: HttpClient | None = None,
    ) -> None:
        self.http = http or HttpClient(
            sink=self.sink, base_url=api_url, headers=headers, read_timeout=30.0
        )
        self.max_log_bytes = max_log_bytes
        self.max_jobs = max_jobs
        self.max_pages = max_pages

    def download(self, job: JobRef, path: str, what: str, **kwargs: Any) -> JobLog:
        """A job's log, streamed up to ``max_log_bytes``; a log that is gone is ``missing``."""
        try:
            response = self.http.get(path, stream=True, what=what, **kwargs)
        except UnknownTargetError as exc:
            return JobLog(job, b"", missing=str(exc))
        data, truncated = read_capped(response, self.max_log_bytes, what=what)
        return JobLog(job, data, truncated)

    def bounded_jobs(self, pages: Iterable[list[JobRef]], what: str) -> list[JobRef]:
        return bounded(pages, max_items=self.max_jobs, max_pages=self.max_pages, what=what)


def read_capped(response: Any, limit: int, *, what: str) -> tuple[bytes, bool]:
    """Read a streamed response up to ``limit`` bytes; (data, truncated). The rest is not read."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    try:
        for chunk in response.iter_content(chunk_size=CHUNK):
            if not chunk:
                continue
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                truncated = True
                break
    finally:
        close = getattr(response, "close", None)
        if close is not None:
            close()
    if truncated:
        log.logger.warning(
            "log over SCAN_MAX_LOG_BYTES: scanned the first part only", what=what, limit=limit
        )
    return b"".join(chunks)[:limit], truncated


def bounded(pages: Iterable[list[T]], *, max_items: int, max_pages: int, what: str) -> list[T]:
    """Items from successive pages, stopping at ``max_items`` items or ``max_pages`` pages,
    with a warning naming the bound when one is reached and more was there."""
    items: list[T] = []
    iterator: Iterator[list[T]] = iter(pages)
    for count, page in enumerate(iterator, start=1):
        items.extend(page)
        if len(items) >= max_items:
            if len(items) > max_items or next(iterator, None):
                log.logger.warning(
                    "more jobs than SCAN_MAX_JOBS: scanned the first ones only",
                    what=what,
                    limit=max_items,
                )
            return items[:max_items]
        if count >= max_pages:
            if next(iterator, None):
                log.logger.warning(
                    "job list longer than its page bound: scanned the first pages only",
                    what=what,
                    pages=max_pages,
                )
            break
    return items


def json_of(response: Any, what: str) -> Any:
    """A response's JSON, or a transient error naming what was not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        raise TransientError(f"{what} is not JSON", reason="bad_response") from exc
