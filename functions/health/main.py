"""health: the connection checks as a function, for Cloud Scheduler.

Runs ``cievents check`` in-process, logs one structured line per integration,
and alerts through Slack only on a change: once when a check turns from
passing to failing, once when it recovers. The last status of each check is
kept in the idempotency store's per-key state, so alerts survive cold starts
and are not repeated by concurrent runs (optimistic versioned writes).

Besides the checks it runs, it reports what the functions met at run time: a
function whose vendor refused its credential (401/403, a revoked token or a
missing scope) records ``health:credential:<function>`` in the store
(``cievents.handler``), and health turns that record into a failing
``<function> <credential>`` check (e.g. ``slack_notify SLACK_BOT_TOKEN``),
alerted once, recovered when the function acts again after the fix.
``HEALTH_FUNCTIONS`` (comma-separated) names the functions to watch; default:
every Pub/Sub function of the bundle.

Answers 200 with the JSON results when everything passes, 503 otherwise,
so an uptime check can watch it too.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cievents import coldstart, log
from cievents.checks.base import CheckResult, import_modules, run_checks
from cievents.checks.registry import configured_checks
from cievents.config import env_bool, env_float, env_list, env_opt, env_str, store_spec
from cievents.errors import CIEventsError
from cievents.handler import credential_record
from cievents.http import HttpClient
from cievents.idempotency import Store, get_states, open_store
from cievents.outbox import Outbox

TIMEOUT_S = env_float("HEALTH_CHECK_TIMEOUT_S", 10.0, minimum=1)
ALERT_CHANNEL = env_opt("HEALTH_SLACK_CHANNEL")
STORE_URL = store_spec(env_opt("CIEVENTS_STORE"))  # checked for form at cold start
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api")
DRY_RUN = env_bool("CIEVENTS_DRY_RUN")
OUTBOX_DIR = env_str("CIEVENTS_OUTBOX", ".cievents/outbox")
# Every function of function.yaml that Pub/Sub pushes to (tests/checks checks the list).
PUBSUB_FUNCTIONS = (
    "slack_notify",
    "teams_notify",
    "github_status",
    "jira_update",
    "gcs_archive",
    "bigquery_metrics",
    "secret_scan",
    "workitem_sync",
    "pr_compliance",
    "repo_inventory",
)
WATCHED = env_list("HEALTH_FUNCTIONS") or PUBSUB_FUNCTIONS
log.register_secrets_from_env()
_store: Store | None = None
_store_lock = threading.Lock()


def _state_store() -> Store:
    global _store  # noqa: PLW0603 - one store per instance, created on first use
    with _store_lock:  # first used from two threads at once (credentials beside the checks)
        if _store is None:
            _store = open_store()
    return _store


def credential_results(store: Store, functions: tuple[str, ...] = WATCHED) -> list[CheckResult]:
    """A check per watched function from its credential record: failing while the
    function's last word on its credential is a refusal. The records are read at once
    (one batch get on Firestore)."""
    results = []
    records = get_states(store, [credential_record(f) for f in functions])
    for function, state in zip(functions, records, strict=True):
        record = state.value
        if record.get("status") not in ("fail", "pass"):
            continue  # never refused: nothing to report
        credential = str(record.get("credential") or "its credential")
        failing = record["status"] == "fail"
        results.append(
            CheckResult(
                integration=function,
                target=credential,
                status="fail" if failing else "pass",
                latency_ms=0.0,
                detail=f"{credential} was refused; {function} dead-letters its messages"
                if failing
                else f"{credential} accepted again",
                fix=f"rotate {credential} (Secret Manager), redeploy {function}, then "
                f"`cievents dead-letters replay --function {function}`"
                if failing
                else "",
            )
        )
    return results


def transitions(results: list[CheckResult], store: Store) -> list[tuple[CheckResult, str]]:
    """The checks whose status changed since the last run, with the previous status (in
    the checks' order). Every record is read in one batch; only a changed or new one is
    written (versioned: of two concurrent runs, one alerts)."""
    keys = [f"health:{r.integration}:{r.target}" for r in results]
    writes = []
    for result, key, state in zip(results, keys, get_states(store, keys), strict=True):
        previous = str(state.value.get("status", "pass"))
        if previous != result.status or not state.version:
            writes.append((result, key, state, previous))
    if len(writes) > 1:
        with ThreadPoolExecutor(min(8, len(writes)), thread_name_prefix="health") as pool:
            won = list(pool.map(lambda w: _write_status(store, *w), writes))
    else:
        won = [_write_status(store, *w) for w in writes]
    return [(w[0], w[3]) for w, ok in zip(writes, won, strict=True) if ok]


def _write_status(store: Store, result: CheckResult, key: str, state: Any, previous: str) -> bool:
    """Record a check's status; True when it is a change this run won (so it alerts)."""
    written = store.set_state(key, {"status": result.status}, expected_version=state.version)
    return written and previous != result.status


def alert(changed: list[tuple[CheckResult, str]]) -> None:
    """One Slack message per run listing what broke and what recovered."""
    if not changed or not ALERT_CHANNEL:
        return
    lines = []
    for result, _previous in changed:
        if result.status == "fail":
            lines.append(
                f":red_circle: *{result.integration} {result.target}* is failing: "
                f"{result.detail}. Fix: {result.fix}"
            )
        else:
            lines.append(f":large_green_circle: *{result.integration} {result.target}* recovered")
    body = {"channel": ALERT_CHANNEL, "text": "\n".join(lines)}
    token = os.environ.get("SLACK_BOT_TOKEN", "")
    outbox = Outbox(OUTBOX_DIR) if DRY_RUN or not token else None
    http = HttpClient(
        sink="slack",
        base_url=SLACK_API_URL,
        headers={"Authorization": f"Bearer {token}"},
        outbox=outbox,
        dry_run_answer=lambda *_: {"ok": True, "ts": "0"},
    )
    try:
        answer = http.post("/chat.postMessage", json_body=body).json()
        if not answer.get("ok"):
            log.logger.error("health alert not posted", slack_error=answer.get("error"))
    except CIEventsError as exc:
        log.logger.error("health alert not posted", error=exc.message)


def _credentials() -> list[CheckResult]:
    try:
        return credential_results(_state_store())
    except Exception as exc:  # the store down: the checks still report
        log.logger.error("credential records not read", error=type(exc).__name__)
        return []


def _pushed(request: Any) -> bool:
    """A Pub/Sub push (the Cloud Scheduler job through its topic), not an uptime check."""
    body = request.get_json(silent=True) if request.method == "POST" else None
    return isinstance(body, dict) and isinstance(body.get("message"), dict)


def health(request: Any) -> tuple[str, int, dict[str, str]]:
    """HTTP entry point: the schedule's push subscription, or an uptime check.

    A push is always acknowledged (200): failing checks are logged and alerted, and a
    non-2xx answer would only make Pub/Sub run them again at once.
    """
    try:
        return _run(request)
    finally:
        coldstart.release()  # the instance's first answer: collection resumes


def _run(request: Any) -> tuple[str, int, dict[str, str]]:
    with log.context(function="health"), ThreadPoolExecutor(1, "credentials") as aside:
        checks = configured_checks(timeout_s=TIMEOUT_S)
        import_modules(checks)  # first, in this thread: imports on threads wait on each other
        # The credential records are read while the checks run (neither waits on the other).
        credentials = aside.submit(contextvars.copy_context().run, _credentials)
        results = run_checks(checks, timeout_s=TIMEOUT_S + 2)
        results += credentials.result()
        for r in results:
            emit = log.logger.info if r.status == "pass" else log.logger.error
            emit(
                f"check {r.integration} {r.target}: {r.status}",
                integration=r.integration,
                target=r.target,
                status=r.status,
                latency_ms=r.latency_ms,
                latency_s=round(
                    r.latency_ms / 1000, 6
                ),  # integrations_test_connection_duration_seconds
                detail=r.detail,
                fix=r.fix,
                outcome="acted",
                provider=r.integration,
                operation="check",
            )
        alert(transitions(results, _state_store()))
        ok = all(r.status == "pass" for r in results)
        body = json.dumps({"ok": ok, "checks": [r.to_dict() for r in results]})
        return body, 200 if ok or _pushed(request) else 503, {"Content-Type": "application/json"}
