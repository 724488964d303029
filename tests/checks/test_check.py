"""`cievents check` against local servers speaking each vendor's API: pass and fail paths."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from cievents.checks.base import run_checks
from cievents.checks.registry import configured_checks
from cievents.cli import main
from tests.support.emulators import RunningServer
from tests.support.fakehttp import FakeServer, Reply

GOOD = "good-token-value-123"

# Budgets for answers that do come: a cold emulator on a busy 2-core machine takes its time
# (what a timeout does is tested against servers that never answer).
COLD_S = 90.0
LOCAL_S = 30.0


@pytest.fixture(autouse=True)
def _no_routed_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channel checks come from the routing rules; these tests pin them explicitly."""
    from cievents.checks import registry

    monkeypatch.setattr(registry, "routed_slack_channels", lambda: [])


@pytest.fixture
def vendors() -> Iterator[FakeServer]:
    """One loopback server that answers like Slack, GitHub, GitLab, Bitbucket, Jira,
    Azure DevOps, Buildkite and a Teams Workflows URL, depending on the path."""
    fake = FakeServer()

    def authed(req: Any) -> bool:
        header = req.headers.get("authorization", "") + req.headers.get("private-token", "")
        return GOOD in header or ("Basic" in header and "YmFk" not in header)

    @fake.route("POST", "/slack/auth.test")
    def slack_auth(req: Any) -> Reply:
        if not authed(req):
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        return Reply(200, {"ok": True, "user": "cibot", "team": "Acme"})

    @fake.route("POST", "/slack/conversations.info")
    def slack_channel(req: Any) -> Reply:
        channel = req.form().get("channel")
        if channel == "C-missing":
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        return Reply(
            200,
            {
                "ok": True,
                "channel": {"id": channel, "name": "builds", "is_member": channel != "C-outside"},
            },
        )

    @fake.route("GET", "/teams/(?P<flow>.+)")
    def teams(req: Any) -> Reply:
        return Reply(404 if "deleted" in req.path else 405, {"error": "method not allowed"})

    @fake.route("GET", "/github/user")
    def gh_user(req: Any) -> Reply:
        # A classic token: GitHub lists its scopes in X-OAuth-Scopes.
        return (
            Reply(200, {"login": "ci-bot"}, headers={"X-OAuth-Scopes": "repo, read:org"})
            if authed(req)
            else Reply(401, {"message": "Bad credentials"})
        )

    @fake.route("GET", "/gitlab/personal_access_tokens/self")
    def gl_token(req: Any) -> Reply:
        if not authed(req):
            return Reply(401, {"message": "401 Unauthorized"})
        return Reply(200, {"id": 4, "name": "ci", "scopes": ["api"], "active": True})

    @fake.route("GET", "/github/repos/acme/(?P<repo>[^/]+)")
    def gh_repo(req: Any) -> Reply:
        if req.match and req.match.group("repo") == "secret":
            return Reply(404, {"message": "Not Found"})
        return Reply(200, {"full_name": "acme/web", "permissions": {"push": True}})

    @fake.route("GET", "/gitlab/user")
    def gl_user(req: Any) -> Reply:
        return (
            Reply(200, {"username": "ci"})
            if authed(req)
            else Reply(401, {"message": "401 Unauthorized"})
        )

    @fake.route("GET", "/bitbucket/user")
    def bb_user(req: Any) -> Reply:
        if not authed(req):
            return Reply(401, {})
        return Reply(
            200,
            {"display_name": "CI"},
            headers={"X-OAuth-Scopes": "pullrequest:write, repository:write"},
        )

    @fake.route("GET", "/ado/acme/_apis/connectionData")
    def ado_connection(req: Any) -> Reply:
        encoded = req.headers.get("authorization", "").removeprefix("Basic ")
        if GOOD not in base64.b64decode(encoded).decode():
            return Reply(401, {})
        return Reply(200, {"authenticatedUser": {"providerDisplayName": "CI"}})

    @fake.route("GET", "/jira/rest/api/2/myself")
    def jira_me(req: Any) -> Reply:
        return Reply(200, {"displayName": "CI Bot"}) if authed(req) else Reply(401, {})

    @fake.route("GET", "/jira/rest/api/2/project/(?P<key>[A-Z]+)")
    def jira_project(req: Any) -> Reply:
        key = req.match.group("key") if req.match else ""
        if key == "NOPE":
            return Reply(404, {"errorMessages": ["No project could be found with key 'NOPE'."]})
        return Reply(200, {"key": key, "name": "Shop"})

    @fake.route("GET", "/ado/acme/_apis/projects/(?P<p>[^/]+)")
    def ado(req: Any) -> Reply:
        encoded = req.headers.get("authorization", "").removeprefix("Basic ")
        if GOOD not in base64.b64decode(encoded).decode():
            return Reply(401, {})
        return Reply(200, {"name": req.match.group("p") if req.match else ""})

    @fake.route("GET", "/buildkite/access-token")
    def bk(req: Any) -> Reply:
        if not authed(req):
            return Reply(401, {"message": "Authentication required"})
        scopes = (
            ["read_builds"]
            if "narrow" in req.headers["authorization"]
            else ["read_builds", "read_job_logs"]
        )
        return Reply(200, {"uuid": "x", "scopes": scopes})

    with fake:
        yield fake


def env_for(url: str, **overrides: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": f"xoxb-{GOOD}",
        "SLACK_API_URL": f"{url}/slack",
        "TEAMS_WEBHOOK_URL": f"{url}/teams/workflows/abc",
        "GITHUB_TOKEN": GOOD,
        "GITHUB_API_URL": f"{url}/github",
        "CHECK_GITHUB_REPOS": "acme/web",
        "GITLAB_TOKEN": GOOD,
        "GITLAB_API_URL": f"{url}/gitlab",
        "BITBUCKET_TOKEN": GOOD,
        "BITBUCKET_API_URL": f"{url}/bitbucket",
        "JIRA_URL": f"{url}/jira",
        "JIRA_PAT": GOOD,
        "JIRA_PROJECTS": "SHOP",
        "AZURE_DEVOPS_ORG_URL": f"{url}/ado/acme",
        "AZURE_DEVOPS_PROJECT": "Fabrikam",
        "AZURE_DEVOPS_PAT": GOOD,
        "BUILDKITE_API_TOKEN": GOOD,
        "BUILDKITE_API_URL": f"{url}/buildkite",
    }
    env.update(overrides)
    return env


def results_by_target(env: dict[str, str]) -> dict[tuple[str, str], Any]:
    return {
        (r.integration, r.target): r
        for r in run_checks(configured_checks(env, timeout_s=COLD_S), timeout_s=COLD_S)
    }


def test_everything_passes(vendors: FakeServer) -> None:
    results = results_by_target(env_for(vendors.url))
    assert {k: r.status for k, r in results.items()} == {
        ("slack", "auth.test"): "pass",
        ("teams", "workflows webhook"): "pass",
        ("github", "token"): "pass",
        ("github", "repo acme/web"): "pass",
        ("gitlab", "token"): "pass",
        ("bitbucket", "credentials"): "pass",
        ("jira", "myself"): "pass",
        ("jira", "project SHOP"): "pass",
        ("azure-devops", "Fabrikam"): "pass",
        ("buildkite", "API token scopes"): "pass",
        ("github", "PR gate (token)"): "pass",
        ("gitlab", "PR gate"): "pass",
        ("bitbucket", "PR gate"): "pass",
        ("azure-repos", "PR gate"): "pass",
    }
    # Teams was reached without posting anything.
    assert not vendors.calls("POST", "/teams/.*")


@pytest.mark.parametrize(
    ("overrides", "key", "fix_words"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-wrong"}, ("slack", "auth.test"), "reinstall"),
        ({"GITHUB_TOKEN": "wrong"}, ("github", "token"), "statuses: write"),
        ({"CHECK_GITHUB_REPOS": "acme/secret"}, ("github", "repo acme/secret"), "grant it access"),
        ({"GITLAB_TOKEN": "wrong"}, ("gitlab", "token"), "api scope"),
        ({"BITBUCKET_TOKEN": "wrong"}, ("bitbucket", "credentials"), "repository:write"),
        ({"JIRA_PAT": "wrong"}, ("jira", "myself"), "credentials"),
        ({"JIRA_PROJECTS": "NOPE"}, ("jira", "project NOPE"), "cannot browse"),
        ({"AZURE_DEVOPS_PAT": "bad"}, ("azure-devops", "Fabrikam"), "Work Items"),
        (
            {"BUILDKITE_API_TOKEN": f"narrow-{GOOD}"},
            ("buildkite", "API token scopes"),
            "read_job_logs",
        ),
        ({"TEAMS_WEBHOOK_URL": "/teams/deleted"}, ("teams", "workflows webhook"), "copy it again"),
    ],
)
def test_each_integration_can_fail(
    vendors: FakeServer, overrides: dict[str, str], key: tuple[str, str], fix_words: str
) -> None:
    if overrides.get("TEAMS_WEBHOOK_URL", "").startswith("/"):
        overrides["TEAMS_WEBHOOK_URL"] = vendors.url + overrides["TEAMS_WEBHOOK_URL"]
    result = results_by_target(env_for(vendors.url, **overrides))[key]
    assert result.status == "fail" and fix_words in result.fix
    for secret in ("wrong", "narrow-", GOOD):
        assert secret not in result.detail


def test_slack_channel_membership(vendors: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from cievents.checks import registry

    monkeypatch.setattr(
        registry, "routed_slack_channels", lambda: ["C-builds", "C-outside", "C-missing"]
    )
    results = results_by_target(env_for(vendors.url))
    assert results[("slack", "channel C-builds")].status == "pass"
    assert "invite" in results[("slack", "channel C-outside")].fix
    assert results[("slack", "channel C-missing")].status == "fail"


def test_pr_compliance_policy_and_scopes(vendors: FakeServer) -> None:
    env = {**env_for(vendors.url), "COMPLIANCE_POLICY": "rules: [{checks: {approvals: true}}]"}
    results = results_by_target(env)
    for key in (
        ("compliance", "policy"),
        ("github", "compliance scopes"),
        ("gitlab", "compliance scopes"),
        ("bitbucket", "compliance scopes"),
    ):
        assert results[key].status == "pass", results[key]
    teams = "rules: [{checks: {reviewers: {groups: [acme/security]}, jira_key: {verify: true}}}]"
    narrow = results_by_target({**env, "COMPLIANCE_POLICY": teams, "JIRA_URL": ""})
    assert narrow[("compliance", "policy")].status == "pass"
    assert narrow[("jira", "compliance jira_key.verify")].status == "fail"
    bad = results_by_target({**env, "COMPLIANCE_POLICY": "rules: [{checks: {aprovals: 1}}]"})
    assert bad[("compliance", "policy")].status == "fail"
    assert "unknown key 'checks.aprovals'" in bad[("compliance", "policy")].detail


def test_unreachable_host_fails_within_the_timeout() -> None:
    env = {"GITHUB_TOKEN": GOOD, "GITHUB_API_URL": "http://127.0.0.1:9"}
    results = run_checks(configured_checks(env, timeout_s=2), timeout_s=4)
    assert len(results) == 2  # the token, and the PR gate's scopes
    assert all(r.status == "fail" and "ConnectionError" in r.detail for r in results)
    # a connection error is not blamed on the token, and the detail says how long it took
    token = next(r for r in results if r.target == "token")
    assert "not tested" in token.fix and "[after " in token.detail


def test_cli_table_json_and_exit_codes(
    vendors: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in env_for(vendors.url).items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 0
    table = capsys.readouterr().out
    assert "integration" in table and "14 passed, 0 failed" in table
    assert GOOD not in table
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    assert main(["check", "--function", "github_status", "--format", "json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {r["integration"] for r in rows} == {"github", "gitlab", "bitbucket"}
    assert any(r["status"] == "fail" for r in rows)


def test_cli_with_nothing_configured(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert "no integration is configured" in capsys.readouterr().err


def test_gcs_probe_object(gcs_emulator: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{gcs_emulator.host}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "local")
    storage.Client(project="local", credentials=AnonymousCredentials()).create_bucket("archive-ok")
    env = {"ARCHIVE_BUCKET": "archive-ok", "GOOGLE_CLOUD_PROJECT": "local"}
    (ok,) = [
        r
        for r in run_checks(configured_checks(env, timeout_s=COLD_S), timeout_s=COLD_S)
        if r.integration == "gcs"
    ]
    assert ok.status == "pass" and "created and deleted" in ok.detail
    (missing,) = [
        r
        for r in run_checks(configured_checks({**env, "ARCHIVE_BUCKET": "no-such-bucket"}, 5))
        if r.integration == "gcs"
    ]
    assert missing.status == "fail" and "ARCHIVE_BUCKET" in missing.fix


def test_pubsub_topics(pubsub_emulator: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import google.cloud.pubsub_v1 as pubsub_v1

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    publisher = pubsub_v1.PublisherClient()
    publisher.create_topic(name=publisher.topic_path("check-proj", "ci-events"))
    env = {"GOOGLE_CLOUD_PROJECT": "check-proj"}
    results = {
        r.target: r for r in run_checks(configured_checks(env, timeout_s=COLD_S), timeout_s=COLD_S)
    }
    assert results["ci-events"].status == "pass"
    assert results["security-findings"].status == "fail"
    assert "infra/" in results["security-findings"].fix


def test_firestore_probe(
    firestore_emulator: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    env = {"CIEVENTS_STORE": "firestore:checks", "GOOGLE_CLOUD_PROJECT": "check-proj"}
    (result,) = [
        r
        for r in run_checks(configured_checks(env, timeout_s=COLD_S), timeout_s=COLD_S)
        if r.integration == "firestore"
    ]
    assert result.status == "pass" and "checks_claims" in result.detail


def test_health_function_alerts_once_on_failure_and_once_on_recovery(
    vendors: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CIEVENTS_STORE", f"sqlite:{tmp_path / 'health.db'}")
    monkeypatch.setenv("HEALTH_SLACK_CHANNEL", "C-ops")
    for name, value in env_for(vendors.url).items():
        if name.startswith(("GITHUB", "SLACK")):
            monkeypatch.setenv(name, value)
    source = str(Path(__file__).parents[2] / "functions" / "health" / "main.py")
    app = functions_framework.create_app(target="health", source=source, signature_type="http")
    client = app.test_client()

    def alerts() -> list[str]:
        return [r.json()["text"] for r in vendors.calls("POST", "/slack/chat.postMessage")]

    @vendors.route("POST", "/slack/chat.postMessage")
    def post(req: Any) -> Reply:
        return Reply(200, {"ok": True, "ts": "1.1"})

    assert client.get("/").status_code == 200
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    assert client.get("/").status_code == 503
    assert client.get("/").status_code == 503  # still failing: no second alert
    # As deployed: the schedule's push subscription. Acked whatever the checks say (a 5xx
    # would only make Pub/Sub redeliver at once); the result is in the body and the logs.
    push = {"message": {"attributes": {"source": "scheduler", "event": "health"}, "data": "e30="}}
    pushed = client.post("/", json={**push, "subscription": "projects/p/subscriptions/health-0"})
    assert pushed.status_code == 200 and pushed.json["ok"] is False
    monkeypatch.setenv("GITHUB_TOKEN", GOOD)
    assert client.get("/").json["ok"] is True
    texts = alerts()
    assert len(texts) == 2
    assert "github token* is failing" in texts[0] and "recovered" in texts[1]


@pytest.fixture
def bigquery() -> Iterator[FakeServer]:
    """Speaks the two BigQuery REST calls the check makes: get dataset, get table."""
    fake = FakeServer()
    tables = {"builds", "jobs"}

    @fake.route("GET", "/bigquery/v2/projects/(?P<p>[^/]+)/datasets/(?P<d>[^/]+)")
    def dataset(req: Any) -> Reply:
        if req.match.group("d") == "ci_metrics":
            return Reply(
                200,
                {
                    "datasetReference": {
                        "projectId": req.match.group("p"),
                        "datasetId": "ci_metrics",
                    }
                },
            )
        if req.match.group("d") == "locked":
            return Reply(
                403,
                {"error": {"code": 403, "message": "Access Denied", "status": "PERMISSION_DENIED"}},
            )
        return Reply(
            404, {"error": {"code": 404, "message": "Not found: Dataset", "status": "NOT_FOUND"}}
        )

    @fake.route(
        "GET", "/bigquery/v2/projects/(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)"
    )
    def table(req: Any) -> Reply:
        name = req.match.group("t")
        if name in tables:
            return Reply(
                200,
                {
                    "tableReference": {
                        "projectId": req.match.group("p"),
                        "datasetId": req.match.group("d"),
                        "tableId": name,
                    }
                },
            )
        return Reply(
            404, {"error": {"code": 404, "message": "Not found: Table", "status": "NOT_FOUND"}}
        )

    fake.tables = tables  # type: ignore[attr-defined]
    with fake:
        yield fake


def test_bigquery_dataset_and_tables(bigquery: FakeServer) -> None:
    env = {
        "BIGQUERY_DATASET": "ci_metrics",
        "BIGQUERY_PROJECT": "proj",
        "BIGQUERY_EMULATOR_HOST": bigquery.url,
    }

    def result(**overrides: str) -> Any:
        (r,) = [
            r
            for r in run_checks(
                configured_checks({**env, **overrides}, timeout_s=LOCAL_S), timeout_s=LOCAL_S
            )
            if r.integration == "bigquery"
        ]
        return r

    ok = result()
    assert ok.status == "pass" and "builds, jobs" in ok.detail
    missing = result(BIGQUERY_DATASET="nope")
    assert missing.status == "fail" and "apply the Terraform" in missing.fix
    denied = result(BIGQUERY_DATASET="locked")
    assert denied.status == "fail" and "dataEditor" in denied.fix
    bigquery.tables.discard("jobs")  # type: ignore[attr-defined]
    no_table = result()
    assert no_table.status == "fail" and "jobs" in no_table.detail


def test_firestore_unreachable_fails_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    env = {"CIEVENTS_STORE": "firestore:checks", "GOOGLE_CLOUD_PROJECT": "check-proj"}
    (result,) = [
        r
        for r in run_checks(configured_checks(env, timeout_s=3), timeout_s=5)
        if r.integration == "firestore"
    ]
    assert result.status == "fail" and "Firestore" in result.fix
