"""The inventory's per-repository hook end to end: the audit reads the loopback GitHub API,
publishes to a file, and workitem_sync (served as deployed, against a loopback Jira) files,
leaves alone, and resolves the work items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cievents.config import CommonSettings
from cievents.findings_report import FindingsReporter
from cievents.idempotency import open_store
from cievents.inventory.audit import AuditSettings, RepoAudit
from cievents.inventory.model import Repo
from cievents.inventory.posture import PosturePolicy
from cievents.scanning.validate import github_style_token
from cievents.scm.github import GitHubClient
from tests.inventory.support import make_repo, published
from tests.support.fakehttp import FakeServer
from tests.support.fakes.github import AuditedRepo, FakeGitHub
from tests.workitems.test_workitem_sync import (  # noqa: F401 - fixtures
    client_for,
    deliver_finding,
    jira,
    store_path,
)

TOKEN = "ghp_" + "Hook" * 9
LEAK = github_style_token("ghp_", "Q" * 12 + "w" * 18)
FULL = {
    "required_pull_request_reviews": {"required_approving_review_count": 1},
    "required_status_checks": {"contexts": ["ci"]},
    "allow_force_pushes": {"enabled": False},
}


class Lister:
    def __init__(self, client: Any) -> None:
        self.client = client


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    server = FakeGitHub(tokens=(TOKEN,)).start()
    server.audited["acme/web"] = AuditedRepo(
        files={"app/settings.py": f'TOKEN = "{LEAK}"\n'.encode()}, head_sha="7" * 40
    )
    yield server
    server.stop()


def repo(**changes: Any) -> Repo:
    return make_repo("github", "acme/web", "1", web_url="https://github.com/acme/web", **changes)


def make_audit(tmp_path: Path, store: Any) -> tuple[RepoAudit, Path]:
    out = tmp_path / "findings.jsonl"
    reporter = FindingsReporter(
        target=f"file:{out}",
        channel=None,
        slack_token=None,
        slack_api=None,
        dry_run=True,
        outbox_dir=str(tmp_path / "outbox"),
    )
    settings = AuditSettings(posture=PosturePolicy(checks=frozenset({"branch-protection"})))
    return RepoAudit(store, reporter, settings), out


def test_new_then_nothing_then_fixed(fake: FakeGitHub, tmp_path: Path) -> None:
    store = open_store("memory:")
    audit, out = make_audit(tmp_path, store)
    lister = Lister(GitHubClient(api_url=fake.url, token=TOKEN))
    audit(repo(), lister, True)
    first = published(out)
    assert sorted(m.rule_id for m in first) == ["github-token", "posture-branch-unprotected"]
    secret = next(m for m in first if m.family != "posture")
    assert secret.location["path"] == "app/settings.py" and secret.commit == "7" * 40
    assert audit.counts.to_dict() == {
        "audited": 1,
        "new": 1,
        "fixed": 0,
        "scanned": 1,
        "secrets": 1,
        "errors": 0,
    }
    # nothing changed: nothing published, nothing downloaded
    audit(repo(), lister, False)
    assert len(published(out)) == 2 and fake.audited["acme/web"].downloads == 1
    # the branch gets protected: the finding is resolved
    fake.audited["acme/web"].protection = FULL
    audit(repo(), lister, False)
    fixed = published(out)[2:]
    assert [(m.rule_id, m.resolved) for m in fixed] == [("posture-branch-unprotected", True)]
    assert fixed[0].fingerprint == next(m for m in first if m.family == "posture").fingerprint
    audit(repo(), lister, False)
    assert len(published(out)) == 3
    assert all(LEAK not in m.to_bytes().decode() for m in published(out))


def test_a_repository_that_fails_does_not_stop_the_others(fake: FakeGitHub, tmp_path: Path) -> None:
    audit, out = make_audit(tmp_path, open_store("memory:"))
    audit(repo(), Lister(GitHubClient(api_url=fake.url, token="ghp_revoked")), True)
    assert len(audit.counts.errors) == 1 and "GITHUB_TOKEN" in audit.counts.errors[0]
    assert "ghp_revoked" not in audit.counts.errors[0]
    audit(repo(), Lister(GitHubClient(api_url=fake.url, token=TOKEN)), True)
    assert len(published(out)) == 2


def test_work_items_follow_the_audit(
    fake: FakeGitHub,
    tmp_path: Path,
    jira: FakeServer,  # noqa: F811
    client_for: Callable[..., FlaskClient],  # noqa: F811
) -> None:
    store = open_store("memory:")
    audit, out = make_audit(tmp_path, store)
    lister = Lister(GitHubClient(api_url=fake.url, token=TOKEN))
    sync = client_for()
    audit(repo(), lister, True)
    for message in published(out):
        assert deliver_finding(sync, message) == 200
    created = jira.calls("POST", "/rest/api/2/issue")
    posture = next(
        c.json()["fields"] for c in created if "posture" in c.json()["fields"]["summary"]
    )
    assert posture["summary"] == "Repository posture: posture-branch-unprotected in acme/web"
    assert posture["labels"][0] == "cievents-posture"
    assert len(created) == 2  # the posture gap and the committed secret
    # a second sync finds the same: no message, so no new item either
    audit(repo(), lister, False)
    assert len(published(out)) == 2
    # fixed: one comment and the Done transition on the posture item
    fake.audited["acme/web"].protection = FULL
    audit(repo(), lister, False)
    (fixed,) = published(out)[2:]
    for _ in range(2):  # redelivered: resolved once
        assert deliver_finding(sync, fixed) == 200
    comments = [c for c in jira.calls("POST", r".*/comment") if "Fixed:" in c.json()["body"]]
    assert len(comments) == 1
    assert jira.issues[comments[0].path.split("/")[-2]]["status"] == "Done"  # type: ignore[attr-defined]
    # the setting regresses: the item is reopened, not duplicated
    fake.audited["acme/web"].protection = None
    audit(repo(), lister, False)
    (again,) = published(out)[3:]
    assert deliver_finding(sync, again) == 200
    assert len(jira.calls("POST", "/rest/api/2/issue")) == 2
    assert jira.issues[comments[0].path.split("/")[-2]]["status"] == "To Do"  # type: ignore[attr-defined]


def test_settings_from_env() -> None:
    settings = AuditSettings.from_env(
        {"AUDIT_POSTURE": "false", "INVENTORY_SCAN_COMMITTED": "no", "AUDIT_STALE_DAYS": "7"}
    )
    assert not settings.audit_posture and not settings.scan_committed
    assert settings.posture.stale_days == 7 and settings.service_connections
    assert CommonSettings.from_env({}).dry_run is False
