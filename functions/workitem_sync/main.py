"""workitem_sync: findings become work items; work-item status flows back to the finding.

Finding → work item (``security-findings``): the open item for the
fingerprint is found (stored link, else a label/tag search), else created
(Jira: project, issue type, priority from severity, labels; Azure Boards: a
JSON Patch document). A finding seen again in a later build adds one short
"seen again" comment per build, never a new item; a resolved finding that
reappears reopens its item; a suppressed one is skipped.

Work item → finding (``ci-events``: Jira ``jira:issue_updated``, Azure DevOps
``workitem.updated``): Done / Closed / Resolved → resolved; "Won't Fix" or a
configured false-positive resolution → suppressed (the scanner skips
suppressed fingerprints from then on). Updates are ordered by the vendor's own
version (Jira's ``timestamp``, Azure's ``rev``): an older update arriving after
a newer one changes nothing. An update for a finding not recorded yet (the
Done arrived before the finding) is kept (``workitem_sync:pending:<label>``)
and applied when the finding arrives, never dropped.

Settings: ``WORKITEM_TRACKER`` (``jira`` or ``azure-boards``; default: jira
when ``JIRA_URL`` is set, else azure-boards when ``AZURE_DEVOPS_ORG_URL`` is);
Jira: ``JIRA_URL``, ``JIRA_EMAIL`` + ``JIRA_API_TOKEN`` or ``JIRA_PAT``,
``WORKITEM_JIRA_PROJECT`` (default ``SEC``), ``WORKITEM_ISSUE_TYPE`` (``Bug``),
``WORKITEM_REOPEN_TRANSITION`` (``Reopen``), ``WORKITEM_DONE_TRANSITION`` (``Done``: a
repository finding whose setting was fixed, ``resolved`` on the message, is commented on and
resolved); Azure: ``AZURE_DEVOPS_ORG_URL``,
``AZURE_DEVOPS_PROJECT``, ``AZURE_DEVOPS_PAT``, ``WORKITEM_AZURE_TYPE`` (``Bug``),
``WORKITEM_AZURE_DONE_STATE`` (``Done``);
``WORKITEM_SUPPRESS_RESOLUTIONS`` (default ``Won't Fix,Won't Do,False Positive``);
``WORKITEM_MAX_PAGES`` (default 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents import log
from cievents.config import env_int, env_list, env_opt, env_str
from cievents.envelope import Message
from cievents.errors import TransientError
from cievents.events import WorkItemEvent
from cievents.findings import FindingMessage, state_key
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.idempotency import update_state
from cievents.outbox import Outbox
from cievents.sources import parse_message
from cievents.tracker.jira import JiraSettings
from cievents.tracker.workitems import (
    KIND_LABELS,
    AzureBoardsTracker,
    JiraTracker,
    Tracker,
    label,
)

JIRA = JiraSettings(
    url=(env_opt("JIRA_URL") or "").rstrip("/"),
    email=env_opt("JIRA_EMAIL"),
    api_token=env_opt("JIRA_API_TOKEN"),
    pat=env_opt("JIRA_PAT"),
)
KIND = env_str(
    "WORKITEM_TRACKER",
    "azure-boards" if env_opt("AZURE_DEVOPS_ORG_URL") and not JIRA.url else "jira",
)
SUPPRESS = {
    r.lower()
    for r in (
        env_list("WORKITEM_SUPPRESS_RESOLUTIONS") or ("Won't Fix", "Won't Do", "False Positive")
    )
}
DONE = {"done", "closed", "resolved"}
MAX_PAGES = env_int("WORKITEM_MAX_PAGES", 5, minimum=1)
_trackers: dict[bool, Tracker] = {}


def tracker(ctx: Context) -> Tracker:
    credentials = JIRA.has_credentials if KIND == "jira" else bool(env_opt("AZURE_DEVOPS_PAT"))
    dry = ctx.settings.dry_run or not credentials
    if dry not in _trackers:
        outbox = Outbox(ctx.settings.outbox_dir) if dry else None
        if KIND == "jira":
            _trackers[dry] = JiraTracker(
                JIRA,
                env_str("WORKITEM_JIRA_PROJECT", "SEC"),
                env_str("WORKITEM_ISSUE_TYPE", "Bug"),
                env_str("WORKITEM_REOPEN_TRANSITION", "Reopen"),
                MAX_PAGES,
                outbox,
                done_transition=env_str("WORKITEM_DONE_TRANSITION", "Done"),
            )
        else:
            _trackers[dry] = AzureBoardsTracker(
                env_str("AZURE_DEVOPS_ORG_URL", "https://dev.azure.com/invalid"),
                env_str("AZURE_DEVOPS_PROJECT", "Security"),
                env_opt("AZURE_DEVOPS_PAT"),
                env_str("WORKITEM_AZURE_TYPE", "Bug"),
                MAX_PAGES,
                outbox,
                done_state=env_str("WORKITEM_AZURE_DONE_STATE", "Done"),
            )
    return _trackers[dry]


def parse(message: Message) -> Any:
    if message.attributes.get("event") == "finding":
        return FindingMessage.from_bytes(message.data)
    return parse_message(message)


def key(message: Message, event: Any) -> str:
    if isinstance(event, FindingMessage):
        # a repository's finding (no build, job or PR) is one episode per detection
        scope = event.build_number or event.job_id or event.pull_request or event.detected_at
        return f"finding:{event.fingerprint}:{scope}" + (":resolved" if event.resolved else "")
    return message.attributes.get("delivery_id") or message.id


def _version(event: WorkItemEvent) -> int:
    """The vendor's order of updates to one item: Jira's ``timestamp`` (ms), Azure's ``rev``."""
    raw = event.raw
    resource = raw.get("resource")
    rev = resource.get("rev") if isinstance(resource, Mapping) else None
    for value in (raw.get("timestamp"), rev):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _apply(ctx: Context, fingerprint: str, status: str, version: int) -> bool:
    """Set the finding's status unless a newer update (by the vendor's order) already did."""

    applied: list[bool] = []

    def change(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
        applied.clear()
        if int(state.get("status_version") or 0) > version:
            return None
        applied.append(True)
        return {**state, "status": status, "status_version": version}

    update_state(ctx.store, state_key(fingerprint), change)
    return bool(applied)


def _pending_key(fingerprint_label: str) -> str:
    return f"workitem_sync:pending:{fingerprint_label}"


def _on_fixed(finding: FindingMessage, ctx: Context) -> Result:
    """A repository setting fixed: comment on the finding's open item and resolve it."""
    current = ctx.store.get_state(state_key(finding.fingerprint)).value
    item = current.get("item")
    if not item or current.get("status") != "open":
        return skipped("no open work item for the fixed finding")
    work = tracker(ctx)
    work.comment(
        item, f"Fixed: {finding.preview} (seen by {finding.source} at {finding.detected_at})."
    )
    work.resolve(item)
    update_state(ctx.store, state_key(finding.fingerprint), lambda s: {**s, "status": "resolved"})
    return Result("acted", f"resolved {item}", provider=work.name, operation="resolve")


def _on_finding(finding: FindingMessage, ctx: Context) -> Result:
    if finding.resolved:
        return _on_fixed(finding, ctx)
    store, work = ctx.store, tracker(ctx)
    lock = ctx.store.claim(f"workitem_sync:lock:{finding.fingerprint}", lease_s=60)
    if lock.status != "claimed":
        raise TransientError(f"another execution is syncing {finding.fingerprint[:12]}")
    try:
        current = dict(store.get_state(state_key(finding.fingerprint)).value)
        status = current.get("status")
        if status == "suppressed":
            return skipped("finding suppressed (won't fix / false positive)")
        item = current.get("item") or work.find_open(finding.fingerprint)
        build = str(finding.build_number or finding.job_id or finding.pull_request or "")
        done = "nothing"
        if item and not current.get("item"):
            # Found by its label, not yet recorded: a create whose answer was lost, or an
            # item made before this store existed. Adopted, never created twice.
            done = f"adopted {item} (found by its label)"
        elif not item:
            item = work.create(finding)
            done = f"created {item}"
        elif status == "resolved":
            work.reopen(item)
            work.comment(
                item,
                f"Seen again after it was resolved, in build #{build} "
                f"({finding.build_url or finding.repository}): reopened.",
            )
            done = f"reopened {item}"
        elif build and build not in (current.get("builds") or []) and current.get("builds"):
            work.comment(item, f"Seen again in build #{build}: {finding.build_url or ''}".strip())
            done = f"commented on {item}"

        def save(state: Mapping[str, Any]) -> Mapping[str, Any]:
            builds = list(state.get("builds") or [])
            if build and build not in builds:
                builds.append(build)
            return {
                **state,
                "status": "open",
                "item": item,
                "tracker": work.name,
                "rule_id": finding.rule_id,
                "builds": builds[-50:],
            }

        update_state(store, state_key(finding.fingerprint), save)
        store.set_state(
            f"finding_label:{label(finding.fingerprint)}", {"fingerprint": finding.fingerprint}
        )
        pending = store.get_state(_pending_key(label(finding.fingerprint))).value
        if pending.get("status"):  # its work item's update arrived first
            _apply(ctx, finding.fingerprint, str(pending["status"]), int(pending["version"]))
            store.set_state(_pending_key(label(finding.fingerprint)), {})
            done = f"{done}; then {pending['status']} (its work item's update arrived first)"
    finally:
        store.release(f"workitem_sync:lock:{finding.fingerprint}", lock.token)
    return Result(
        "acted" if done != "nothing" else "skipped", done, provider=work.name, operation="sync"
    )


def _on_work_item(event: WorkItemEvent, ctx: Context) -> Result:
    labels = [x for x in event.labels if x.startswith("cievents-") and x not in KIND_LABELS]
    if not labels:
        return skipped("not a finding's work item")
    resolution = (event.resolution or "").lower()
    status_to = (event.status_to or event.status or "").lower()
    if resolution in SUPPRESS or status_to == "removed":
        new = "suppressed"
    elif status_to in DONE or (event.status or "").lower() in DONE:
        new = "resolved"
    else:
        return skipped(f"status {event.status_to or event.status} changes nothing")
    version = _version(event)
    fingerprint = ctx.store.get_state(f"finding_label:{labels[0]}").value.get("fingerprint")
    if not fingerprint:

        def keep(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
            if state.get("status") and int(state.get("version") or 0) > version:
                return None
            return {"status": new, "version": version, "item": event.key or event.item_id}

        update_state(ctx.store, _pending_key(labels[0]), keep)
        return Result(
            "acted",
            f"{new} kept for {labels[0]}: applied when its finding arrives",
            provider=event.source,
            operation="pending",
        )
    if not _apply(ctx, str(fingerprint), new, version):
        return skipped(f"a newer update of {event.key or event.item_id} was applied already")
    log.logger.info(
        "finding state changed",
        fingerprint=fingerprint,
        status=new,
        item=event.key or event.item_id,
    )
    return Result(
        "acted",
        f"finding {str(fingerprint)[:12]} → {new}",
        provider=event.source,
        operation="state",
    )


@pubsub_function(
    "workitem_sync",
    parse=parse,
    key=key,
    accepts=lambda e: isinstance(e, FindingMessage)
    or (isinstance(e, WorkItemEvent) and e.event in ("jira:issue_updated", "workitem.updated")),
)
def handle(event: Any, ctx: Context) -> Result:
    """A finding to its work item, or a work item's status back to its finding."""
    if isinstance(event, FindingMessage):
        return _on_finding(event, ctx)
    return _on_work_item(event, ctx)
