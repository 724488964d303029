"""The dry-run outbox: every request a function would have sent, one JSON line each.

With no credentials (the local demo) or ``CIEVENTS_DRY_RUN=1``, a sink
(slack, teams, github, gitlab, bitbucket, jira, azure-devops, …) records
``{"sink", "method", "url", "body", "event_id"}`` in ``<outbox>/<sink>.jsonl``
instead of sending it, so the demo and tests can show exactly what would
have gone out. Appends are single ``write`` calls under an ``O_APPEND`` file,
so several local function processes can share one outbox.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cievents import clock, log, tracing


class Outbox:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def record(
        self, sink: str, method: str, url: str, body: Any, event_id: str | None = None
    ) -> dict[str, Any]:
        entry = {
            "sink": sink,
            "method": method.upper(),
            "url": url,
            "body": body,
            "event_id": event_id or log.current_context().get("message_id"),
            "time": clock.now(),
        }
        tracing.recorded(sink, method, url)
        self.directory.mkdir(parents=True, exist_ok=True)
        line = log.mask(json.dumps(entry, sort_keys=True, default=str)) + "\n"
        fd = os.open(
            self.directory / f"{sink}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return entry

    def read(self, sink: str) -> list[dict[str, Any]]:
        path = self.directory / f"{sink}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def from_env() -> Outbox:
    return Outbox(os.environ.get("CIEVENTS_OUTBOX", ".cievents/outbox"))
