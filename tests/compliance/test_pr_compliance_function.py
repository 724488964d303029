"""pr_compliance as deployed (functions-framework, a Pub/Sub push per delivery) against
loopback fakes of the four SCMs' APIs: a PR missing an approval gets one comment and a
failing ``cievents/compliance``; the approval turns it green and edits the same comment;
redelivery (3× each, shuffled, with late deliveries of the old events) ends the same."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cievents.metrics.duckdb_store import DuckDBStore
from tests.compliance.scenarios import SCENARIOS, Delivery, Scenario
from tests.support.apps import function_client

SOURCE = str(Path(__file__).parents[2] / "functions" / "pr_compliance" / "main.py")
POLICY = "rules: [{name: reviewed, checks: {approvals: {minimum: 1}}}]"
ids = itertools.count(1)
FAILED = {"github": "failure", "gitlab": "failed", "bitbucket": "FAILED", "azure-devops": "failed"}
PASSED = {
    "github": "success",
    "gitlab": "success",
    "bitbucket": "SUCCESSFUL",
    "azure-devops": "succeeded",
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    built = SCENARIOS[request.param]()
    with built.fake:
        yield built


def app(scenario: Scenario, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FlaskClient:
    return function_client(
        monkeypatch,
        SOURCE,
        {
            **scenario.env(scenario.fake.url),
            "COMPLIANCE_POLICY": POLICY,
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
            "METRICS_BACKEND": "duckdb",
            "METRICS_DUCKDB_PATH": str(tmp_path / "metrics.duckdb"),
        },
    )


def deliver(client: FlaskClient, deliveries: list[Delivery], seed: int | None) -> None:
    """Each delivery 3× (a Pub/Sub redelivery keeps the message id), in shuffled order."""
    plan = [(d, f"m-{d.delivery_id}") for d in deliveries for _ in range(3)]
    random.Random(seed).shuffle(plan)
    for delivery, message_id in plan:
        response = client.post("/", json=delivery.push(message_id))
        assert response.status_code < 300, response.get_data(as_text=True)


def late(deliveries: list[Delivery]) -> list[Delivery]:
    """The same vendor events delivered again later under new ids (a webhook redelivered
    from the vendor's UI, or a slow subscription): they carry the old state."""
    return [
        Delivery(d.source, d.event, d.body, f"{d.delivery_id}-late{next(ids)}") for d in deliveries
    ]


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    store = DuckDBStore(tmp_path / "metrics.duckdb")
    return store.query(
        "SELECT insert_id, result, head_sha, sequence, failed_checks FROM compliance "
        "ORDER BY sequence"
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_missing_approval_fails_then_the_approval_turns_it_green(
    scenario: Scenario, seed: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = app(scenario, monkeypatch, tmp_path)
    deliver(client, scenario.opened, seed)
    comments = scenario.comments()
    assert len(comments) == 1, comments
    assert "❌ Compliance: 1 of 1 checks fail" in comments[0]
    assert "| Approvals | ❌ fail | 0 of 1 approval" in comments[0]
    assert scenario.status() == FAILED[scenario.scm]
    rows = audit(tmp_path)
    assert [(r["result"], r["sequence"]) for r in rows] == [("fail", 1)]

    scenario.approve()
    deliver(client, scenario.approved + late(scenario.opened), seed)
    comments = scenario.comments()
    assert len(comments) == 1, "the same comment is edited, never a second one"
    assert "✅ Compliance: every check passes" in comments[0]
    assert scenario.status() == PASSED[scenario.scm]
    rows = audit(tmp_path)
    assert [(r["result"], r["sequence"]) for r in rows] == [("fail", 1), ("pass", 2)]
    assert rows[0]["failed_checks"] == "approvals" and rows[1]["failed_checks"] is None


def test_shuffled_delivery_ends_with_the_same_comment_status_and_rows(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Three runs with three shuffles, each from a fresh fake: identical end states."""
    finals = []
    for seed in (11, 12, 13):
        fresh = SCENARIOS[scenario.scm]()
        tmp = tmp_path_factory.mktemp(f"run{seed}")
        with fresh.fake:
            client = app(fresh, monkeypatch, tmp)
            deliver(client, fresh.opened, seed)
            fresh.approve()
            deliver(client, fresh.approved + late(fresh.opened), seed)
            finals.append((fresh.comments(), fresh.status(), audit(tmp)))
    assert finals[0] == finals[1] == finals[2]
    assert len(finals[0][0]) == 1 and len(finals[0][2]) == 2
