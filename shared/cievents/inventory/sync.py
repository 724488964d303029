"""The inventory sync: list every repository, write what changed, mark what is gone.

``Sync.run(mode)`` goes over each lister (one per SCM) and, per SCM, over its owners with
at most ``INVENTORY_CONCURRENCY`` at once. Each owner's repositories are read a page at a
time and written in batches (``AssetStore.put``: only rows whose digest changed), so
memory holds a page per worker plus the set of keys seen, never the listing.

Modes:

* ``full``: everything; at the end, when every owner was listed completely (no page bound
  hit, no failure), the SCM's assets not seen are marked deleted.
* ``incremental``: only what changed since the last sync (each vendor's own filter, see
  ``cievents.inventory.vendors``); never marks deletions.
* ``auto`` (the schedule's): ``full`` when the last full sync of that SCM is older than
  ``INVENTORY_FULL_EVERY_H`` hours (default 24) or there was none, else ``incremental``.

Resuming: the progress of a run (its owners done) is kept per SCM in the idempotency
store's state (``inventory:run:<scm>``). A run that failed part-way (a page that kept
failing, a rate limit past its wait) raises ``TransientError`` after finishing what it
could; the next run of the same mode resumes it, skipping the owners done (writes are
upserts by key, so nothing is duplicated either way).

Per-repository hooks (``hooks``, for the repositories ``audit_filter`` keeps, by default
every one; ``INVENTORY_AUDIT_FILTER``, see ``cievents.inventory.filters``): the posture audit
(``cievents.inventory.posture.audit_repository``) and the committed-code scan
(``cievents.inventory.committed.scan_repository``) are called here, for every repository
listed, with the lister's SCM client; the function wires them in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cievents import clock, log
from cievents.config import Env, env_float
from cievents.errors import CIEventsError, TransientError
from cievents.idempotency import Store
from cievents.inventory.assets import AssetStore
from cievents.inventory.model import Repo
from cievents.inventory.vendors import Lister, RepoRef

__all__ = ["MODES", "OwnerDone", "RepoHook", "ScmReport", "Sync", "SyncReport", "raise_if_failed"]

MODES = ("auto", "full", "incremental")
BATCH = 100

# (repo, lister, changed) → None. ``changed``: the asset row was written this time.
RepoHook = Callable[[Repo, Lister, bool], None]
# (scm, owners done, owners in all, repositories so far) → None: a progress bar.
OwnerDone = Callable[[str, int, int, int], None]


@dataclass
class ScmReport:
    scm: str
    mode: str
    listed: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    owners: int = 0
    resumed_owners: int = 0
    pages: int = 0
    complete: bool = True
    rate_waited_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.created + self.updated + self.deleted

    def to_dict(self) -> dict[str, Any]:
        return {
            "scm": self.scm,
            "mode": self.mode,
            "listed": self.listed,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "owners": self.owners,
            "resumed_owners": self.resumed_owners,
            "pages": self.pages,
            "complete": self.complete,
            "rate_waited_s": round(self.rate_waited_s, 3),
            "errors": self.errors,
        }


@dataclass
class SyncReport:
    scms: list[ScmReport]

    @property
    def written(self) -> int:
        return sum(s.written for s in self.scms)

    @property
    def failed(self) -> bool:
        return any(s.errors for s in self.scms)

    def summary(self) -> str:
        return "; ".join(
            f"{s.scm} {s.mode}: {s.listed} listed, {s.created} new, {s.updated} changed, "
            f"{s.deleted} deleted" + (f", {len(s.errors)} failed" if s.errors else "")
            for s in self.scms
        )

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "scms": [s.to_dict() for s in self.scms]}


class Sync:
    def __init__(
        self,
        listers: Sequence[Lister],
        assets: AssetStore,
        state: Store,
        *,
        concurrency: int = 4,
        full_every: timedelta = timedelta(hours=24),
        hooks: Sequence[RepoHook] = (),
        audit_filter: Callable[[Repo], bool] | None = None,
        progress: OwnerDone | None = None,
        now: Callable[[], datetime] = clock.now_utc,
    ) -> None:
        self.listers = list(listers)
        self.assets = assets
        self.state = state
        self.concurrency = concurrency
        self.full_every = full_every
        self.hooks = list(hooks)
        self.audit_filter = audit_filter
        self.progress = progress
        self.now = now

    @staticmethod
    def full_every_from_env(environ: Env | None = None) -> timedelta:
        return timedelta(
            hours=env_float("INVENTORY_FULL_EVERY_H", 24.0, minimum=0, environ=environ)
        )

    # -- one SCM ---------------------------------------------------------------------------
    def _key(self, scm: str) -> str:
        return f"inventory:run:{scm}"

    def _mode(self, requested: str, saved: dict[str, Any], now: datetime) -> str:
        if requested != "auto":
            return requested
        last_full = saved.get("last_full")
        if not last_full:
            return "full"
        return (
            "full" if now - datetime.fromisoformat(last_full) >= self.full_every else "incremental"
        )

    def run(self, mode: str = "auto") -> SyncReport:
        if mode not in MODES:
            raise ValueError(f"inventory sync mode must be one of {', '.join(MODES)}, not {mode!r}")
        if len(self.listers) <= 1:
            return SyncReport([self._scm(lister, mode) for lister in self.listers])
        with ThreadPoolExecutor(max_workers=len(self.listers), thread_name_prefix="inv") as pool:
            return SyncReport(list(pool.map(lambda lister: self._scm(lister, mode), self.listers)))

    def _scm(self, lister: Lister, requested: str) -> ScmReport:
        scm = lister.scm
        now = self.now()
        stored = self.state.get_state(self._key(scm))
        saved = dict(stored.value)
        run = dict(saved.get("run") or {})
        mode = self._mode(requested, saved, now)
        resuming = bool(run) and run.get("mode") == mode
        if not resuming:
            since = saved.get("last_sync") if mode == "incremental" else None
            run = {"mode": mode, "started": now.isoformat(), "since": since, "done": []}
            saved["run"] = run
            self.state.set_state(self._key(scm), saved)
        report = ScmReport(scm, mode)
        done: set[str] = set(run.get("done") or [])
        since_text = run.get("since")
        since = datetime.fromisoformat(since_text) if since_text else None
        seen: set[str] = set()
        lock = threading.Lock()
        log.logger.info(
            f"inventory {scm}: {mode} sync" + (" (resumed)" if resuming else ""),
            scm=scm,
            mode=mode,
            resumed=resuming,
            since=since_text,
        )

        def one(owner: str) -> None:
            keys: set[str] = set()
            count = 0
            batch: list[Repo] = []

            def flush() -> None:
                nonlocal batch
                if not batch:
                    return
                created, updated = self.assets.put(batch, self.now())
                written = {r.key for r in batch} if (created or updated) else set()
                with lock:
                    report.created += created
                    report.updated += updated
                for repo in batch:
                    self._hooks(repo, lister, repo.key in written)
                batch = []

            for repo in lister.repos(owner, since):
                keys.add(repo.key)
                batch.append(repo)
                count += 1
                if len(batch) >= BATCH:
                    flush()
            flush()
            with lock:
                seen.update(keys)
                report.listed += count
                report.owners += 1
                done.add(owner)
                self._checkpoint(scm, run, done)
                progress = (scm, len(done), len(owners), report.listed)
            if self.progress is not None:
                self.progress(*progress)

        def guarded(owner: str) -> None:
            try:
                one(owner)
            except CIEventsError as exc:
                log.logger.error(
                    f"inventory {scm}: listing {owner} failed: {exc.message}", scm=scm, owner=owner
                )
                with lock:
                    report.errors.append(f"{owner}: {exc.message}")

        try:
            owners = list(self._owners(lister))
        except CIEventsError as exc:
            report.errors.append(f"owners: {exc.message}")
            owners = []
        if self.progress is not None:
            self.progress(scm, len(done & set(owners)), len(owners), 0)
        pending = [o for o in owners if o not in done]
        skipped = [o for o in owners if o in done]
        report.resumed_owners = len(skipped)
        unknown = False
        if skipped:  # listed by the interrupted run: what they hold is in the store already
            for key, repo_owner in self.assets.live(scm).items():
                covered = [lister.covers(o, repo_owner) for o in skipped]
                if any(c is None for c in covered):
                    unknown = True
                elif any(covered):
                    seen.add(key)
        with ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix=f"inv-{scm}"
        ) as pool:
            list(pool.map(guarded, pending))
        report.pages = lister.listing.pages_read
        report.rate_waited_s = lister.listing.pacer.waited_s
        report.complete = lister.complete and not report.errors
        if report.errors:
            return report  # the run stays saved: the next one resumes it
        if mode == "full" and report.complete and unknown:
            log.logger.warning(
                f"inventory {scm}: resumed past owners whose repositories cannot be told "
                "apart; the next full sync marks deletions",
                scm=scm,
            )
        elif mode == "full" and report.complete:
            gone = sorted(set(self.assets.live(scm)) - seen)
            report.deleted = self.assets.mark_deleted(gone, self.now()) if gone else 0
        elif mode == "full":
            log.logger.warning(
                f"inventory {scm}: a list stopped at its page bound (INVENTORY_MAX_PAGES); "
                "no repository is marked deleted this time",
                scm=scm,
            )
        finished = {k: v for k, v in saved.items() if k != "run"}
        finished["last_sync"] = run["started"]
        if mode == "full":
            finished["last_full"] = run["started"]
        self._set(scm, finished)
        return report

    def _owners(self, lister: Lister) -> Iterator[str]:
        seen: set[str] = set()
        for owner in lister.owners():
            if owner not in seen:
                seen.add(owner)
                yield owner

    def _checkpoint(self, scm: str, run: dict[str, Any], done: set[str]) -> None:
        current = dict(self.state.get_state(self._key(scm)).value)
        current["run"] = {**run, "done": sorted(done)}
        self._set(scm, current)

    def _set(self, scm: str, value: dict[str, Any]) -> None:
        self.state.set_state(self._key(scm), value)

    def _hooks(self, repo: Repo, lister: Lister, changed: bool) -> None:
        if self.audit_filter is not None and not self.audit_filter(repo):
            return
        for hook in self.hooks:
            hook(repo, lister, changed)

    # -- one repository (a webhook) ---------------------------------------------------------
    def one(self, lister: Lister, ref: RepoRef) -> tuple[Repo | None, bool]:
        """Re-read the repository an event names and write it if it changed: (repo, written).
        A deletion event, or a 404 for a repository the store holds, marks it deleted."""
        now = self.now()
        repo = None if ref.deleted else lister.repo(ref)
        if repo is None:
            key = f"{lister.scm}:{ref.id}" if ref.id else None
            if key is None:
                return None, False
            marked = self.assets.mark_deleted([key], now)
            return None, bool(marked)
        head = ref.head_of(repo.default_branch)
        if head:
            repo = repo.with_(head_sha=head)
        created, updated = self.assets.put([repo], now)
        self._hooks(repo, lister, bool(created or updated))
        return repo, bool(created or updated)


def raise_if_failed(report: SyncReport) -> None:
    """A run that could not finish: transient, so the next delivery (or run) resumes it."""
    if report.failed:
        errors = "; ".join(f"{s.scm}: {e}" for s in report.scms for e in s.errors)
        raise TransientError(f"inventory sync incomplete, will resume: {errors}")
