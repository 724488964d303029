"""repo_inventory as deployed, with its audit: the schedule's sync lists the fakes, audits
each repository and publishes the gaps and the committed secret to ``security-findings``
(a file here); a second full sync publishes nothing; a fixed setting is published resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cievents.scanning.validate import github_style_token
from tests.inventory.fleet import fleet
from tests.inventory.support import published
from tests.inventory.test_function import push
from tests.support.apps import function_client
from tests.support.fakes.github import AuditedRepo

SOURCE = str(Path(__file__).parents[2] / "functions" / "repo_inventory" / "main.py")
LEAK = github_style_token("ghp_", "R" * 10 + "t" * 20)
FULL = {
    "required_pull_request_reviews": {"required_approving_review_count": 1},
    "required_status_checks": {"contexts": ["ci"]},
    "allow_force_pushes": {"enabled": False},
}
PROTECTED = {
    "isEnabled": True,
    "isBlocking": True,
    "type": {"id": "0609b952-1397-4640-95ec-e00a01b2c241", "displayName": "Build"},
    "settings": {"scope": [{"repositoryId": None}], "minimumApproverCount": 1},
}
REVIEWERS = {
    **PROTECTED,
    "type": {"id": "fa4e907d-c16b-4a4c-9dfa-4906e5d171dd", "displayName": "Minimum reviewers"},
}


def tick(mode: str, n: int) -> dict[str, Any]:
    return push({"source": "scheduler", "event": "repo_inventory", "mode": mode}, {}, f"tick-{n}")


def test_sync_audits_publishes_once_and_resolves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "findings.jsonl"
    with fleet(6, 0, 0, 2, page_size=4) as world:
        for i, repo in world.github.inventory.items():  # type: ignore[attr-defined]
            world.github.audited[repo["full_name"]] = AuditedRepo(
                id=i, protection=FULL, visibility=repo["visibility"]
            )
        world.github.audited["acme/svc-1"].protection = None  # a gap
        world.github.audited["acme/svc-5"].files = {"deploy.sh": f"export T={LEAK}\n".encode()}
        for project in ("Project00", "Project01"):
            world.azure.policies[f"fabrikam/{project}"] = [PROTECTED, REVIEWERS]
        world.azure.endpoints["fabrikam/Project00"] = [
            {
                "id": "e-1",
                "name": "prod",
                "type": "azurerm",
                "authorization": {"scheme": "WorkloadIdentityFederation"},
            }
        ]
        world.azure.endpoint_permissions["e-1"] = {"allPipelines": {"authorized": True}}
        client = function_client(
            monkeypatch,
            SOURCE,
            {
                **world.env(),
                "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
                "METRICS_BACKEND": "duckdb",
                "METRICS_DUCKDB_PATH": str(tmp_path / "metrics.duckdb"),
                "CIEVENTS_FINDINGS_PUBLISH_TO": f"file:{out}",
                "AUDIT_PRIVATE_OWNERS": "github:acme",
                "AUDIT_STALE_DAYS": "0",
            },
        )
        answer = client.post("/", json=tick("full", 1))
        assert answer.status_code < 300, answer.get_data(as_text=True)
        first = published(out)
        posture = sorted((m.rule_id, m.location["path"]) for m in first if m.family == "posture")
        assert posture == [
            ("azure-connection-all-pipelines", "fabrikam/Project00"),
            ("posture-branch-unprotected", "acme/svc-1"),
            ("posture-public-repository", "acme/svc-3"),
        ]
        (secret,) = [m for m in first if m.family != "posture"]
        assert secret.location["path"] == "deploy.sh" and secret.repository
        assert LEAK not in out.read_text()

        # nothing changed: a full sync audits again and publishes nothing
        assert client.post("/", json=tick("full", 2)).status_code < 300
        assert len(published(out)) == len(first)
        downloads = sum(r.downloads for r in world.github.audited.values())
        assert downloads == 5  # svc-0 is empty: not scanned; each head once

        # the gap is fixed: the finding is published resolved, once
        world.github.audited["acme/svc-1"].protection = FULL
        assert client.post("/", json=tick("full", 3)).status_code < 300
        (fixed,) = published(out)[len(first) :]
        assert fixed.resolved and fixed.rule_id == "posture-branch-unprotected"
        assert client.post("/", json=tick("full", 4)).status_code < 300
        assert len(published(out)) == len(first) + 1
