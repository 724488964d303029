"""health: the connection checks as a function, for Cloud Scheduler.

Runs ``cievents check`` in-process, logs one structured line per integration,
and alerts through Slack only on a change: once when a check turns from
passing to failing, once when it recovers. The last status of each check is
kept in the idempotency store's per-key state, so alerts survive cold starts
and are not repeated by concurrent runs (optimistic versioned writes).

Answers 200 with the JSON results when everything passes, 503 otherwise,
so an uptime check can watch it too.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cievents import log
from cievents.checks.base import CheckResult, run_checks
from cievents.checks.registry import configured_checks
from cievents.config import env_bool, env_float, env_opt, env_str, store_spec
from cievents.errors import CIEventsError
from cievents.http import HttpClient
from cievents.idempotency import Store, open_store
from cievents.outbox import Outbox

TIMEOUT_S = env_float("HEALTH_CHECK_TIMEOUT_S", 10.0, minimum=1)
ALERT_CHANNEL = env_opt("HEALTH_SLACK_CHANNEL")
STORE_URL = store_spec(env_opt("CIEVENTS_STORE"))  # checked for form at cold start
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api")
DRY_RUN = env_bool("CIEVENTS_DRY_RUN")
OUTBOX_DIR = env_str("CIEVENTS_OUTBOX", ".cievents/outbox")
log.register_secrets_from_env()
_store: Store | None = None


def _state_store() -> Store:
    global _store  # noqa: PLW0603 - one store per instance, created on first use
    if _store is None:
        _store = open_store()
    return _store


def transitions(results: list[CheckResult], store: Store) -> list[tuple[CheckResult, str]]:
    """The checks whose status changed since the last run, with the previous status."""
    changed: list[tuple[CheckResult, str]] = []
    for result in results:
        key = f"health:{result.integration}:{result.target}"
        state = store.get_state(key)
        previous = str(state.value.get("status", "pass"))
        if previous != result.status and store.set_state(
            key, {"status": result.status}, expected_version=state.version
        ):
            changed.append((result, previous))
        elif not state.version:
            store.set_state(key, {"status": result.status}, expected_version=0)
    return changed


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


def _pushed(request: Any) -> bool:
    """A Pub/Sub push (the Cloud Scheduler job through its topic), not an uptime check."""
    body = request.get_json(silent=True) if request.method == "POST" else None
    return isinstance(body, dict) and isinstance(body.get("message"), dict)


def health(request: Any) -> tuple[str, int, dict[str, str]]:
    """HTTP entry point: the schedule's push subscription, or an uptime check.

    A push is always acknowledged (200): failing checks are logged and alerted, and a
    non-2xx answer would only make Pub/Sub run them again at once.
    """
    with log.context(function="health"):
        results = run_checks(configured_checks(timeout_s=TIMEOUT_S), timeout_s=TIMEOUT_S + 2)
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
