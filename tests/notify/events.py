"""Build and job payloads for one build moving through its states (from our own fixtures)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from tests.conftest import OWN

BUILD = json.loads((OWN / "buildkite" / "build.finished.failed.json").read_text())
JOB = json.loads((OWN / "buildkite" / "job.finished.failed.json").read_text())


def build(
    event: str, state: str, *, branch: str = "main", number: int = 42, blocked: bool = False
) -> dict[str, Any]:
    body = copy.deepcopy(BUILD)
    body["event"] = event
    b = body["build"]
    b.update(
        state=state,
        branch=branch,
        number=number,
        blocked=blocked,
        id=f"build-{number}",
        web_url=f"https://buildkite.com/acme-inc/web-app/builds/{number}",
    )
    if state in ("scheduled", "running"):
        b["finished_at"] = None
    if state == "scheduled":
        b["started_at"] = None
    return body


def job(
    job_id: str, name: str, *, exit_status: int = 1, branch: str = "main", number: int = 42
) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    body["job"].update(
        id=job_id,
        name=name,
        exit_status=exit_status,
        state="failed" if exit_status else "passed",
        web_url=f"https://buildkite.com/acme-inc/web-app/builds/{number}#{job_id}",
    )
    body["build"].update(branch=branch, number=number, id=f"build-{number}")
    return body


def push_body(payload: dict[str, Any], message_id: str) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": message_id,
            "attributes": {"source": "buildkite", "event": payload["event"]},
        },
        "subscription": "projects/p/subscriptions/notify",
    }
