"""pr_compliance's edges: no credentials, a status event that names only a commit, a late
event for an old head, the merge row, a PR no rule governs, a bad policy at cold start."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from cievents.errors import ConfigError
from cievents.metrics.duckdb_store import DuckDBStore
from tests.compliance.scenarios import TOKEN, Delivery, fixture
from tests.compliance.test_pr_compliance_function import SOURCE
from tests.conftest import CapturedLog
from tests.support.apps import function_client
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.github import PullRequestState as GitHubPull

REPO = "Codertocat/Hello-World"
OPENED = fixture("github/pull_request.opened.json")
SHA = OPENED["pull_request"]["head"]["sha"]
NEWER = "f" * 40


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tokens=(TOKEN,))
    fake.pulls[(REPO, 2)] = GitHubPull(head_sha=SHA, diff="", api=OPENED["pull_request"])
    with fake:
        yield fake


def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, **env: str):  # type: ignore[no-untyped-def]
    return function_client(
        monkeypatch,
        SOURCE,
        {
            "GITHUB_API_URL": url,
            "GITHUB_TOKEN": TOKEN,
            "COMPLIANCE_POLICY": "rules: [{target_branch: master, checks: {approvals: true}}]",
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
            "METRICS_DUCKDB_PATH": str(tmp_path / "metrics.duckdb"),
            **env,
        },
    )


def post(app, delivery: Delivery) -> None:  # type: ignore[no-untyped-def]
    assert app.post("/", json=delivery.push(f"m-{delivery.delivery_id}")).status_code < 300


def rows(tmp_path: Path) -> list[dict[str, object]]:
    store = DuckDBStore(tmp_path / "metrics.duckdb")
    return store.query(
        "SELECT head_sha, result, pr_state, merged FROM compliance ORDER BY sequence"
    )


def test_without_credentials_nothing_is_claimed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    app = client(monkeypatch, tmp_path, "http://127.0.0.1:9", GITHUB_TOKEN="")
    post(app, Delivery("github", "pull_request", OPENED, "d1"))
    [outcome] = captured_log.outcomes()
    assert outcome["outcome"] == "skipped"
    assert "no credentials to read github" in outcome["reason"]


def test_a_status_event_finds_the_pull_requests_of_its_commit(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = client(monkeypatch, tmp_path, github.url)
    status = copy.deepcopy(fixture("github/status.json"))
    status["sha"] = SHA
    post(app, Delivery("github", "status", status, "s1"))
    assert len(github.comments_on(REPO, 2)) == 1
    assert github.latest_status(REPO, SHA, "cievents/compliance")["state"] == "failure"  # type: ignore[index]


def test_a_late_event_for_an_old_head_never_overwrites_the_newer_verdict(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = client(monkeypatch, tmp_path, github.url)
    post(app, Delivery("github", "pull_request", OPENED, "o1"))
    # A push: the PR's head moves on and someone approves the new head.
    github.pulls[(REPO, 2)].head_sha = NEWER
    github.review(REPO, 2, "octocat", "APPROVED", NEWER)
    synchronize = copy.deepcopy(OPENED)
    synchronize["action"] = "synchronize"
    synchronize["pull_request"]["head"]["sha"] = NEWER
    post(app, Delivery("github", "pull_request", synchronize, "o2"))
    # The old head's opened event arrives again, late: it is evaluated on the current head.
    post(app, Delivery("github", "pull_request", OPENED, "o3"))
    assert [(r["head_sha"], r["result"]) for r in rows(tmp_path)] == [
        (SHA, "fail"),
        (NEWER, "pass"),
    ]
    body = github.comments_on(REPO, 2)[0]["body"]
    assert "every check passes" in body and NEWER[:12] in body
    # And an SCM that still serves the old head after the newer one was seen is retried.
    github.pulls[(REPO, 2)].head_sha = SHA
    response = app.post(
        "/", json=Delivery("github", "pull_request", synchronize, "o4").push("m-o4")
    )
    assert response.status_code >= 500
    assert len(rows(tmp_path)) == 2


def test_the_merge_is_recorded_without_touching_the_pr(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = client(monkeypatch, tmp_path, github.url)
    post(app, Delivery("github", "pull_request", OPENED, "m1"))
    writes = len(github.statuses), len(github.comments)
    github.pulls[(REPO, 2)].state = "closed"
    github.pulls[(REPO, 2)].api = {
        **OPENED["pull_request"],
        "merged": True,
        "merged_at": "2026-11-20T12:00:00Z",
    }
    closed = copy.deepcopy(fixture("github/pull_request.closed.json"))
    post(app, Delivery("github", "pull_request", closed, "m2"))
    assert [(r["result"], r["pr_state"], r["merged"]) for r in rows(tmp_path)] == [
        ("fail", "open", False),
        ("fail", "merged", True),
    ]
    assert (len(github.statuses), len(github.comments)) == writes
    merges = DuckDBStore(tmp_path / "metrics.duckdb").query("SELECT * FROM noncompliant_merges")
    assert [(m["repository"], m["pull_request"], m["failed_checks"]) for m in merges] == [
        (REPO, 2, "approvals")
    ]


def test_a_pr_no_rule_governs_gets_nothing(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    app = client(
        monkeypatch,
        tmp_path,
        github.url,
        COMPLIANCE_POLICY="rules: [{target_branch: main, checks: {approvals: true}}]",
    )
    post(app, Delivery("github", "pull_request", OPENED, "n1"))
    assert github.comments == [] and github.statuses == []
    assert "no policy rule" in captured_log.outcomes()[0]["reason"]


def test_a_bad_policy_stops_the_cold_start_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(
        ConfigError, match=r"^COMPLIANCE_POLICY: rule 1: unknown key 'checks.aprovals'"
    ):
        client(
            monkeypatch,
            tmp_path,
            "http://127.0.0.1:9",
            COMPLIANCE_POLICY="rules: [{checks: {aprovals: 1}}]",
        )


def test_jira_key_verified_with_the_jira_client(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.support.fakes.jira import PAT, jira_server

    pr = github.pulls[(REPO, 2)]
    pr.api = {**OPENED["pull_request"], "title": "SHOP-311 and OPS-404 update the README"}
    policy = "rules: [{checks: {jira_key: {in: [title], verify: true}}}]"
    with jira_server({"SHOP-311": "In Progress"}) as jira:
        app = client(
            monkeypatch,
            tmp_path,
            github.url,
            COMPLIANCE_POLICY=policy,
            JIRA_URL=jira.url,
            JIRA_PAT=PAT,
        )
        post(app, Delivery("github", "pull_request", OPENED, "j1"))
        looked_up = [r.path for r in jira.calls("GET", r"/rest/api/2/issue/.*")]
    assert "/rest/api/2/issue/SHOP-311" in looked_up
    body = github.comments_on(REPO, 2)[0]["body"]
    assert "| Jira issue | ✅ pass | SHOP-311 exists in Jira |" in body
    pr.api = {**OPENED["pull_request"], "title": "OPS-404 update the README"}
    edited = copy.deepcopy(OPENED)
    edited["action"] = "edited"
    with jira_server({"SHOP-311": "In Progress"}) as jira:
        app = client(
            monkeypatch,
            tmp_path,
            github.url,
            COMPLIANCE_POLICY=policy,
            JIRA_URL=jira.url,
            JIRA_PAT=PAT,
        )
        post(app, Delivery("github", "pull_request", edited, "j2"))
    body = github.comments_on(REPO, 2)[0]["body"]
    assert "OPS-404 not found in Jira" in body


def test_a_force_push_back_to_an_old_head_is_evaluated_not_retried_forever(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = client(monkeypatch, tmp_path, github.url)
    post(app, Delivery("github", "pull_request", OPENED, "f1"))
    newer = copy.deepcopy(OPENED)
    newer["action"] = "synchronize"
    newer["pull_request"]["head"]["sha"] = NEWER
    github.pulls[(REPO, 2)].head_sha = NEWER
    post(app, Delivery("github", "pull_request", newer, "f2"))
    github.pulls[(REPO, 2)].head_sha = SHA  # force-pushed back to the first head
    github.review(REPO, 2, "octocat", "APPROVED", SHA)
    back = copy.deepcopy(OPENED)
    back["action"] = "synchronize"
    post(app, Delivery("github", "pull_request", back, "f3"))
    post(app, Delivery("github", "pull_request", newer, "f4"))  # the newer head's event, late
    assert [(r["head_sha"], r["result"]) for r in rows(tmp_path)] == [
        (SHA, "fail"),
        (NEWER, "fail"),
        (SHA, "pass"),
    ]
