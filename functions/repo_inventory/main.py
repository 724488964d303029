"""repo_inventory: every repository on GitHub, GitLab, Bitbucket Cloud and Azure Repos.

Two kinds of message reach it (see function.yaml):

* the Cloud Scheduler job ``repo_inventory`` (topic ``ci-schedules``, attributes
  ``source=scheduler``, ``event=repo_inventory``, optional ``mode`` = auto | full |
  incremental): a sync of every SCM with credentials (``cievents.inventory.sync``): a
  full listing as the fallback (deleted repositories marked), incremental ones between;
  a run cut short raises a transient error, so the redelivery resumes it;
* the webhooks that change a repository (GitHub ``repository``/``push``, GitLab ``push``
  and project events, Bitbucket ``repo:push``/``repo:updated``, Azure ``git.push``/
  ``git.repo.*``): that one repository is re-read by its stable id and its asset written
  when it changed, so the inventory is real-time between syncs.

Every repository goes to the ``assets`` table (BigQuery deployed, DuckDB locally), and each
one listed is audited (``cievents.inventory.audit.RepoAudit``): its posture, and its
committed code when the default branch's head moved; after a sync, the service connections
of the Azure DevOps projects seen. New findings, and posture findings that no longer hold,
go to ``security-findings`` for workitem_sync.
Settings (cold start): the SCM credentials of ``cievents.scm``; ``INVENTORY_*`` and
``AUDIT_*`` (README); ``CIEVENTS_FINDINGS_TOPIC``, ``SECURITY_SLACK_CHANNEL``,
``SLACK_BOT_TOKEN``, ``CIEVENTS_FINGERPRINT_KEY`` (as secret_scan's); the metrics store of
``cievents.metrics``; ``CIEVENTS_STORE``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cievents.config import CommonSettings, env_opt, store_spec
from cievents.envelope import Message
from cievents.errors import ValidationError
from cievents.findings_report import FindingsReporter
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.inventory.audit import AuditSettings, RepoAudit
from cievents.inventory.events import ref_of
from cievents.inventory.filters import RepoFilter
from cievents.inventory.listing import ListingSettings
from cievents.inventory.runner import build_sync
from cievents.inventory.sync import MODES, Sync, raise_if_failed
from cievents.metrics import MetricsSettings
from cievents.scm import ScmSettings

# Every setting checked at cold start (build_sync reads the same ones on first use).
ScmSettings.from_env()
ListingSettings.from_env()
MetricsSettings.from_env()
Sync.full_every_from_env()
RepoFilter.parse(env_opt("INVENTORY_AUDIT_FILTER") or "")
store_spec(env_opt("CIEVENTS_STORE"))
COMMON = CommonSettings.from_env()
AUDIT = AuditSettings.from_env()
REPORTER = FindingsReporter.from_env(COMMON)
SCHEDULE_EVENT = "repo_inventory"
_sync: Sync | None = None
_audit: RepoAudit | None = None


@dataclass(frozen=True)
class Delivery:
    source: str
    event: str
    body: dict[str, Any]
    mode: str = "auto"


def parse(message: Message) -> Delivery:
    """A scheduler tick (no body needed) or a vendor webhook as ingest published it."""
    source = message.attributes.get("source", "")
    event = message.attributes.get("event", "")
    if source == "scheduler":
        mode = message.attributes.get("mode") or "auto"
        if mode not in MODES:
            raise ValidationError(
                f"schedule attribute mode={mode!r}: expected one of {', '.join(MODES)}",
                reason="bad_field",
            )
        return Delivery(source, event, {}, mode)
    try:
        body = json.loads(message.text() or "null")
    except ValueError:
        raise ValidationError(f"{source} {event}: the payload is not JSON") from None
    if not isinstance(body, dict):
        raise ValidationError(f"{source} {event}: the payload is not a JSON object")
    return Delivery(source, event, body)


def sync() -> tuple[Sync, RepoAudit]:
    global _sync, _audit  # noqa: PLW0603 - one sync (clients, App token, stores) per instance
    if _sync is None or _audit is None:
        from cievents.idempotency import open_store

        state = open_store()
        _audit = RepoAudit(state, REPORTER, AUDIT)  # the hook run for every repository
        _sync = build_sync(state=state, hooks=[_audit])
    return _sync, _audit


def accepts(delivery: Delivery) -> bool:
    if delivery.source == "scheduler":
        return delivery.event == SCHEDULE_EVENT
    return ref_of(delivery.source, delivery.event, delivery.body) is not None


@pubsub_function("repo_inventory", parse=parse, accepts=accepts)
def handle(delivery: Delivery, ctx: Context) -> Result:
    """A full/incremental sync on the schedule; one repository on a webhook."""
    runner, audit = sync()
    if not runner.listers:
        return skipped("no SCM credentials: nothing to list")
    counts = audit.begin()
    if delivery.source == "scheduler":
        report = runner.run(delivery.mode)
        audit.audit_connections()  # the Azure DevOps projects this sync saw
        ctx.fields.update(audit=counts.to_dict())
        raise_if_failed(report)  # transient: the redelivery resumes where this one stopped
        summary = f"{report.summary()}; audit: {counts.summary()}"
        if not report.written and not counts.published:
            return skipped(f"nothing changed: {summary}")
        return Result("acted", summary, provider="inventory", operation="sync")
    ref = ref_of(delivery.source, delivery.event, delivery.body)
    assert ref is not None
    lister = next((lst for lst in runner.listers if lst.scm == ref.scm), None)
    if lister is None:
        return skipped(f"no credentials to read {ref.scm} repositories")
    repo, written = runner.one(lister, ref)
    name = repo.full_name if repo else (ref.full_name or ref.id)
    ctx.fields.update(audit=counts.to_dict())
    if not written and not counts.published:
        return skipped(f"{ref.scm} {name}: unchanged")
    state = repo.status if repo else "deleted"
    return Result("acted", f"{ref.scm} {name}: {state}", provider=ref.scm, operation="asset")
