"""What the inventory sync does for each repository it lists: audit its posture, scan what is
committed, publish what is new, and say what was fixed.

    audit = RepoAudit(store, reporter, AuditSettings.from_env())
    sync = build_sync(hooks=[audit])           # audit(repo, lister, changed) per repository
    counts = audit.begin()
    sync.run("auto")
    audit.audit_connections()                  # the Azure DevOps projects the sync saw

Posture findings (``cievents.inventory.posture``) are remembered per repository under
``inventory:posture:<scm>:<id>`` (fingerprint → rule): a finding is published once, when it
appears; one that no longer holds (the setting was fixed, or the repository deleted) is
published again with ``resolved: true``, so workitem_sync comments on its work item and
resolves it. A re-audit that finds what it found before writes and publishes nothing.

Committed code (``cievents.inventory.committed``) is scanned only when the default
branch's head moved; its findings go through ``cievents.findings_report`` exactly as the
findings of job logs and pull requests (one claim per repository and fingerprint, the
security alert), and the head is recorded once they are published.

A failure auditing one repository is logged and counted (``errors``), never the end of
the sync; the next sync audits it again.

Settings: those of ``PosturePolicy`` and ``ScanLimits``; ``AUDIT_POSTURE`` (default true),
``INVENTORY_SCAN_COMMITTED`` (default true), ``AUDIT_SERVICE_CONNECTIONS`` (default true).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cievents import clock, log
from cievents.config import env_bool
from cievents.errors import CIEventsError
from cievents.findings import FindingMessage
from cievents.findings_report import FindingsReporter
from cievents.idempotency import Store
from cievents.inventory.committed import ScanLimits, last_head_of, record_head, scan_repository
from cievents.inventory.model import Repo
from cievents.inventory.posture import PosturePolicy, audit_repository

if TYPE_CHECKING:
    from cievents.scanning import Scanner

__all__ = ["AuditCounts", "AuditSettings", "RepoAudit"]

MAX_KEPT = 500


@dataclass(frozen=True)
class AuditSettings:
    posture: PosturePolicy = field(default_factory=PosturePolicy)
    limits: ScanLimits = field(default_factory=ScanLimits)
    audit_posture: bool = True
    scan_committed: bool = True
    service_connections: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuditSettings:
        return cls(
            posture=PosturePolicy.from_env(environ),
            limits=ScanLimits.from_env(environ),
            audit_posture=env_bool("AUDIT_POSTURE", True, environ=environ),
            scan_committed=env_bool("INVENTORY_SCAN_COMMITTED", True, environ=environ),
            service_connections=env_bool("AUDIT_SERVICE_CONNECTIONS", True, environ=environ),
        )


@dataclass
class AuditCounts:
    audited: int = 0
    new: int = 0
    fixed: int = 0
    scanned: int = 0
    secrets: int = 0
    errors: list[str] = field(default_factory=list)
    # New findings and fixes published this run, and the findings of a scan that had new
    # ones; the first MAX_KEPT (``cievents inventory --audit`` prints them).
    messages: list[FindingMessage] = field(default_factory=list)

    def keep(self, messages: Sequence[FindingMessage]) -> None:
        self.messages += messages[: max(0, MAX_KEPT - len(self.messages))]

    @property
    def published(self) -> int:
        return self.new + self.fixed + self.secrets

    def summary(self) -> str:
        return (
            f"{self.audited} audited, {self.new} new and {self.fixed} fixed posture findings, "
            f"{self.scanned} scanned, {self.secrets} new secrets, {len(self.errors)} errors"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "audited": self.audited,
            "new": self.new,
            "fixed": self.fixed,
            "scanned": self.scanned,
            "secrets": self.secrets,
            "errors": len(self.errors),
        }


class RepoAudit:
    """The inventory sync's per-repository hook (``RepoHook``): ``audit(repo, lister, changed)``."""

    def __init__(
        self,
        store: Store,
        reporter: FindingsReporter,
        settings: AuditSettings | None = None,
        *,
        now: Callable[[], datetime] = clock.now_utc,
        scanner: Scanner | None = None,
    ) -> None:
        self.store = store
        self.reporter = reporter
        self.settings = settings or AuditSettings()
        self.now = now
        self._scanner = scanner
        self._lock = threading.Lock()  # the sync audits several owners at once
        self.counts = AuditCounts()
        self._projects: dict[tuple[str, str], Any] = {}  # Azure projects seen → their client

    def begin(self) -> AuditCounts:
        """Start counting afresh (one sync, or one webhook); the counts of this run."""
        with self._lock:
            self.counts = AuditCounts()
            self._projects.clear()
            return self.counts

    def __call__(self, repo: Repo, lister: Any, changed: bool) -> None:
        if repo.scm == "azure" and "/" in repo.owner and not repo.deleted:
            org, _, project = repo.owner.partition("/")
            with self._lock:
                self._projects.setdefault((org, project), lister.client)
        self.audit(repo, lister.client)

    def audit_connections(self) -> tuple[int, int]:
        """The service-connection audit of the Azure DevOps projects seen since ``begin``."""
        with self._lock:
            seen = dict(self._projects)
        new = fixed = 0
        for (org, project), client in seen.items():
            added, gone = self.connections(org, project, client)
            new, fixed = new + added, fixed + gone
        return new, fixed

    # -- one repository -----------------------------------------------------------------
    def audit(self, repo: Repo, client: Any) -> None:
        try:
            if self.settings.audit_posture:
                self.posture(repo, client)
            if self.settings.scan_committed and repo.active:
                self.committed(repo, client)
        except CIEventsError as exc:
            log.logger.warning(
                "audit failed for one repository; the next sync tries again",
                repository=repo.full_name,
                scm=repo.scm,
                error=str(exc),
                reason=exc.reason,
            )
            with self._lock:
                self.counts.errors.append(f"{repo.scm}:{repo.full_name}: {exc}")

    def posture(self, repo: Repo, client: Any) -> tuple[int, int]:
        """Publish the posture findings that appeared, resolve those that went: (new, fixed)."""
        now = self.now()
        found = audit_repository(repo, client, self.settings.posture, now) if repo.active else []
        if repo.active:
            with self._lock:
                self.counts.audited += 1
        return self._settle(f"inventory:posture:{repo.key}", found, now)

    def connections(self, org: str, project: str, client: Any) -> tuple[int, int]:
        """The Azure DevOps service-connection audit of one project: (new, fixed)."""
        from cievents.inventory.azure_connections import audit_project

        if not self.settings.service_connections:
            return 0, 0
        now = self.now()
        try:
            found = audit_project(org, project, client, now)
        except CIEventsError as exc:
            log.logger.warning(
                "service-connection audit failed", project=f"{org}/{project}", error=str(exc)
            )
            with self._lock:
                self.counts.errors.append(f"azure:{org}/{project}: {exc}")
            return 0, 0
        return self._settle(f"inventory:posture:azure-project:{org}/{project}", found, now)

    def _settle(self, key: str, found: Sequence[FindingMessage], now: datetime) -> tuple[int, int]:
        remembered: dict[str, Any] = dict(self.store.get_state(key).value.get("open") or {})
        current = {f.fingerprint: f for f in found}
        new = [f for fp, f in current.items() if fp not in remembered]
        gone = [(fp, seen) for fp, seen in remembered.items() if fp not in current]
        if not new and not gone:
            return 0, 0  # nothing changed: nothing written, nothing published
        publisher = self._publisher()
        for finding in new:
            publisher.publish(finding.to_bytes(), finding.attributes())
            log.logger.warning(
                "posture finding",
                rule_id=finding.rule_id,
                repository=finding.location.get("path"),
                fingerprint=finding.fingerprint,
            )
        resolutions = [_resolution(fingerprint, seen, now) for fingerprint, seen in gone]
        for fixed in resolutions:
            publisher.publish(fixed.to_bytes(), fixed.attributes())
        self.store.set_state(
            key,
            {
                "open": {
                    fp: {"rule_id": f.rule_id, "path": f.location.get("path"), "preview": f.preview}
                    for fp, f in current.items()
                }
            },
        )
        with self._lock:
            self.counts.new += len(new)
            self.counts.fixed += len(gone)
            self.counts.keep([*new, *resolutions])
        return len(new), len(gone)

    def committed(self, repo: Repo, client: Any) -> int:
        """Scan the default branch if its head moved; publish its new findings: how many new."""
        scan = scan_repository(
            repo,
            client,
            last_head_of(self.store, repo),
            scanner=self.scanner(),
            limits=self.settings.limits,
        )
        if not scan.scanned or scan.head is None:
            return 0
        messages = scan.messages(self.now())
        new = self.reporter.report(self.store, f"{repo.scm}:{repo.full_name}", messages)
        record_head(self.store, repo, scan.head)
        with self._lock:
            self.counts.scanned += 1
            self.counts.secrets += new
            if new:
                self.counts.keep(messages)
        return new

    def scanner(self) -> Scanner:
        with self._lock:
            if self._scanner is None:
                from cievents import findings as finding_state
                from cievents.scanning import Scanner

                store = self.store
                self._scanner = Scanner(
                    suppressed=lambda fp: finding_state.is_suppressed(store, fp)
                )
            return self._scanner

    def _publisher(self) -> Any:
        from cievents.publish import publisher_for

        return publisher_for(self.reporter.target)


def _resolution(fingerprint: str, seen: Any, now: datetime) -> FindingMessage:
    """The message saying a posture finding no longer holds (workitem_sync resolves it)."""
    seen = seen if isinstance(seen, Mapping) else {"rule_id": str(seen)}
    base = FindingMessage(
        fingerprint=fingerprint,
        rule_id=str(seen.get("rule_id") or "posture"),
        family="posture",
        severity="low",
        confidence="high",
        preview=f"fixed: {seen.get('preview') or seen.get('rule_id')}",
        location={"kind": "repository", "path": seen.get("path"), "line": None},
        source="repo_inventory",
        repository=seen.get("path"),
        detected_at=now.isoformat(),
    )
    return replace(base, resolved=True)
