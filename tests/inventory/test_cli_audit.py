"""``cievents inventory --audit`` in its own process against the loopback GitHub fake: the
audit repo_inventory runs, its findings printed and appended to .cievents/findings.jsonl;
a second run finds nothing new."""

from __future__ import annotations

import json
from pathlib import Path

from tests.inventory.fleet import fleet
from tests.inventory.test_cli import cli
from tests.support.fakes.github import AuditedRepo

FULL = {
    "required_pull_request_reviews": {"required_approving_review_count": 1},
    "required_status_checks": {"contexts": ["ci"]},
    "allow_force_pushes": {"enabled": False},
}


def test_audit_from_a_laptop(tmp_path: Path) -> None:
    db = str(tmp_path / "inv.duckdb")
    with fleet(4, 0, 0, 0) as world:
        for i, repo in world.github.inventory.items():  # type: ignore[attr-defined]
            world.github.audited[repo["full_name"]] = AuditedRepo(id=i, protection=FULL)
        world.github.audited["acme/svc-1"].protection = None
        env = {**world.env(), "AUDIT_STALE_DAYS": "0"}
        args = ["--scm", "github", "--audit", "--db", db]
        first = cli([*args, "--format", "json"], env, tmp_path)
        assert first.returncode == 0, first.stderr[-2000:]
        audit = json.loads(first.stdout)["audit"]
        assert audit["new"] == 1 and audit["errors"] == 0
        (finding,) = audit["findings"]
        assert finding["rule_id"] == "posture-branch-unprotected"
        assert finding["where"] == "acme/svc-1" and not finding["resolved"]
        lines = (tmp_path / ".cievents" / "findings.jsonl").read_text().splitlines()
        assert len(lines) == 1
        again = cli(args, env, tmp_path)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "posture-branch-unprotected" not in again.stdout
        assert "0 new and 0 fixed posture findings" in again.stderr
        world.github.audited["acme/svc-1"].protection = FULL
        fixed = cli(args, env, tmp_path)
        assert ["fixed", "posture-branch-unprotected", "acme/svc-1"] in [
            line.split()[:3] for line in fixed.stdout.splitlines()
        ], fixed.stdout
        assert "3 audited, 0 new and 1 fixed" in fixed.stderr  # svc-0 is empty: not audited
        assert len((tmp_path / ".cievents" / "findings.jsonl").read_text().splitlines()) == 2
