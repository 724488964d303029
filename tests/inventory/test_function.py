"""repo_inventory as deployed (functions-framework, a Pub/Sub push per delivery): the
schedule's message syncs the four SCMs; webhooks then update one repository each."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from cievents.metrics.duckdb_store import DuckDBStore
from tests.inventory.fleet import fleet
from tests.support.apps import function_client

SOURCE = str(Path(__file__).parents[2] / "functions" / "repo_inventory" / "main.py")


def push(attributes: dict[str, str], body: Any, message_id: str) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(body).encode()).decode(),
            "messageId": message_id,
            "attributes": attributes,
        },
        "subscription": "projects/p/subscriptions/repo_inventory-0",
    }


def test_schedule_then_webhooks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with fleet(60, 60, 60, 60, page_size=25) as world:
        client = function_client(
            monkeypatch,
            SOURCE,
            {
                **world.env(),
                "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
                "METRICS_BACKEND": "duckdb",
                "METRICS_DUCKDB_PATH": str(tmp_path / "metrics.duckdb"),
                # the audit of each repository is tested in test_function_audit.py
                "AUDIT_POSTURE": "false",
                "INVENTORY_SCAN_COMMITTED": "false",
                "AUDIT_SERVICE_CONNECTIONS": "false",
            },
        )
        tick = {"source": "scheduler", "event": "repo_inventory"}
        answer = client.post("/", json=push(tick, {}, "tick-1"))
        assert answer.status_code < 300, answer.get_data(as_text=True)
        store = DuckDBStore(tmp_path / "metrics.duckdb")
        assert store.query("SELECT COUNT(*) AS n FROM assets")[0]["n"] == 240

        # A push to the default branch: the head is recorded on the one asset.
        repo = world.github.inventory[100_001]  # type: ignore[attr-defined]
        body = {
            "ref": "refs/heads/main",
            "after": "a" * 40,
            "repository": {**repo, "pushed_at": 1767261600},
        }
        gh = {"source": "github", "event": "push", "delivery_id": "d-1"}
        for _ in range(2):  # a redelivery changes nothing more
            assert client.post("/", json=push(gh, body, "m-1")).status_code < 300
        row = store.query("SELECT head_sha FROM assets WHERE insert_id = 'github:100001'")[0]
        assert row["head_sha"] == "a" * 40

        # The repository is deleted on GitHub: its asset is marked, not lost.
        world.github.inventory.pop(100_001)  # type: ignore[attr-defined]
        deleted = {"action": "deleted", "repository": repo}
        gone = {"source": "github", "event": "repository", "delivery_id": "d-2"}
        assert client.post("/", json=push(gone, deleted, "m-2")).status_code < 300
        row = store.query("SELECT status, head_sha FROM assets WHERE insert_id = 'github:100001'")[
            0
        ]
        assert row["status"] == "deleted"

        # An event that changes no repository is acked and skipped.
        other = {"source": "github", "event": "issues", "delivery_id": "d-3"}
        assert client.post("/", json=push(other, {"action": "opened"}, "m-3")).status_code < 300
        assert store.query("SELECT COUNT(*) AS n FROM assets")[0]["n"] == 240
