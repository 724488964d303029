"""Which repositories: active vs archived/disabled/empty/deleted, visibility, default branch,
last push, languages, size, name.

One filter, three spellings: ``cievents inventory`` flags, the ``INVENTORY_AUDIT_FILTER``
setting (which repositories the per-repository hooks, the posture audit and the committed
scan, look at; every repository is still an asset), and ``RepoFilter.parse``:

    status=active visibility=public,internal branch=main,master language=python
    name=acme/* stale_days=90 pushed_after=2026-01-01 min_size_kb=1 max_size_kb=500000

Space-separated ``key=value`` terms, all of which must hold; commas are alternatives.
``branch`` and ``name`` take globs (``fnmatch``, case-sensitive as the SCM is);
``language`` matches case-insensitively; ``stale_days=N`` keeps repositories with no push
in N days (or none ever), ``pushed_within_days=N`` the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from cievents import clock
from cievents.errors import ConfigError
from cievents.inventory.model import VISIBILITIES, Repo, parse_time

__all__ = ["STATUSES", "RepoFilter"]

STATUSES = ("active", "archived", "disabled", "empty", "deleted")
EXAMPLE = "status=active visibility=public,internal"


@dataclass(frozen=True)
class RepoFilter:
    status: tuple[str, ...] = ()
    visibility: tuple[str, ...] = ()
    branch: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    name: tuple[str, ...] = ()
    pushed_after: datetime | None = None
    pushed_before: datetime | None = None
    stale_days: int | None = None
    pushed_within_days: int | None = None
    min_size_kb: int | None = None
    max_size_kb: int | None = None

    def __post_init__(self) -> None:
        for value in self.status:
            if value not in STATUSES:
                raise ValueError(f"status {value!r}: expected one of {', '.join(STATUSES)}")
        for value in self.visibility:
            if value not in VISIBILITIES:
                raise ValueError(f"visibility {value!r}: expected one of {', '.join(VISIBILITIES)}")

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) in ((), None) for f in fields(self))

    def matches(self, repo: Repo, now: datetime | None = None) -> bool:
        if self.status and repo.status not in self.status:
            return False
        if self.visibility and repo.visibility not in self.visibility:
            return False
        if self.branch and not any(fnmatchcase(repo.default_branch or "", b) for b in self.branch):
            return False
        if self.language:
            have = {lang.lower() for lang in repo.languages}
            if not have & {lang.lower() for lang in self.language}:
                return False
        if self.name and not any(fnmatchcase(repo.full_name, n) for n in self.name):
            return False
        return self._times(repo, now) and self._size(repo)

    def _times(self, repo: Repo, now: datetime | None) -> bool:
        pushed = repo.last_push
        if self.pushed_after and (pushed is None or pushed < self.pushed_after):
            return False
        if self.pushed_before and (pushed is None or pushed >= self.pushed_before):
            return False
        if self.stale_days is None and self.pushed_within_days is None:
            return True
        at = now or clock.now_utc()
        stale = self.stale_days
        if stale is not None and pushed is not None and pushed > at - timedelta(days=stale):
            return False
        within = self.pushed_within_days
        return within is None or (pushed is not None and pushed > at - timedelta(days=within))

    def _size(self, repo: Repo) -> bool:
        if self.min_size_kb is not None and (repo.size_kb or 0) < self.min_size_kb:
            return False
        return not (
            self.max_size_kb is not None
            and repo.size_kb is not None
            and repo.size_kb > self.max_size_kb
        )

    def __call__(self, repo: Repo) -> bool:
        return self.matches(repo)

    @classmethod
    def parse(cls, text: str, setting: str = "INVENTORY_AUDIT_FILTER") -> RepoFilter:
        """``key=value[,value] …`` (see the module docstring); a ConfigError naming
        ``setting`` and the bad term otherwise."""
        values: dict[str, Any] = {}
        known = {f.name: f for f in fields(cls)}
        for term in text.split():
            key, sep, raw = term.partition("=")
            if not sep or key not in known or not raw:
                raise ConfigError(
                    setting, f"{term!r} is not key=value with a key of {', '.join(known)}", EXAMPLE
                )
            convert = _CONVERT.get(key, _words)
            try:
                values[key] = convert(raw)
            except ValueError as exc:
                raise ConfigError(setting, f"{term!r}: {exc}", EXAMPLE) from None
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(setting, str(exc), EXAMPLE) from None


def _words(raw: str) -> tuple[str, ...]:
    return tuple(v for v in raw.split(",") if v)


def _time(raw: str) -> datetime:
    parsed = parse_time(raw if "T" in raw else f"{raw}T00:00:00Z")
    if parsed is None:
        raise ValueError("expected a date (2026-01-31) or an ISO 8601 time")
    return parsed


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected a number of 0 or more")
    return value


_CONVERT: dict[str, Callable[[str], Any]] = {
    "pushed_after": _time,
    "pushed_before": _time,
    "stale_days": _count,
    "pushed_within_days": _count,
    "min_size_kb": _count,
    "max_size_kb": _count,
}
