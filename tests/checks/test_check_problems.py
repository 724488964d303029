"""`cievents check` tells apart why a check failed, against loopback servers that fail in
each way: a closed port, a server that never answers, a TLS mismatch, 401, 403 with scope
headers (and Slack's missing_scope), 404 (and channel_not_found). Each says what to do and
how long it really waited; a request that got no answer never blames the credential."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from cievents.checks.base import CheckResult, run_checks
from cievents.checks.registry import configured_checks
from cievents.cli import main
from tests.support.fakehttp import FakeServer, Reply

TOKEN = "ghp_" + "a" * 36
BUDGET_S = 30.0  # answers that do come, on a busy machine


@pytest.fixture(autouse=True)
def _no_routed_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    from cievents.checks import registry

    monkeypatch.setattr(registry, "routed_slack_channels", lambda: [])


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts the connection (the kernel does) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


@pytest.fixture
def vendor() -> Iterator[FakeServer]:
    fake = FakeServer()

    @fake.route("GET", "/github/user")
    def user(req: Any) -> Reply:
        auth = req.headers.get("authorization", "")
        if "narrow" in auth:  # a classic token without the scope the call needs
            return Reply(
                403,
                {"message": "Resource not accessible by personal access token"},
                headers={"X-OAuth-Scopes": "read:org", "X-Accepted-OAuth-Scopes": "repo"},
            )
        if TOKEN not in auth:
            return Reply(401, {"message": "Bad credentials"})
        return Reply(200, {"login": "ci-bot"}, headers={"X-OAuth-Scopes": "repo"})

    @fake.route("GET", "/github/repos/acme/(?P<repo>[^/]+)")
    def repo(req: Any) -> Reply:
        return Reply(404, {"message": "Not Found"})

    @fake.route("POST", "/slack/auth.test")
    def auth_test(req: Any) -> Reply:
        if "narrow" in req.headers.get("authorization", ""):
            return Reply(
                200,
                {
                    "ok": False,
                    "error": "missing_scope",
                    "needed": "users:read",
                    "provided": "chat:write",
                },
            )
        return Reply(200, {"ok": True, "user": "cibot", "team": "Acme"})

    @fake.route("POST", "/slack/conversations.info")
    def info(req: Any) -> Reply:
        return Reply(200, {"ok": False, "error": "channel_not_found"})

    @fake.route("GET", "/jira/rest/api/2/myself")
    def myself(req: Any) -> Reply:
        return Reply(200, {"displayName": "CI"})

    @fake.route("GET", "/jira/rest/api/2/project/(?P<key>[A-Z]+)")
    def project(req: Any) -> Reply:
        return Reply(404, {"errorMessages": ["No project could be found with key 'NOPE'."]})

    with fake:
        yield fake


def check(env: dict[str, str], timeout_s: float = BUDGET_S) -> dict[str, CheckResult]:
    return {
        f"{r.integration} {r.target}": r
        for r in run_checks(configured_checks(env, timeout_s=timeout_s), timeout_s=timeout_s + 5)
    }


def waited_s(detail: str) -> float:
    """The wait a detail reports, in seconds ("after 12 ms", "after 1.0 s")."""
    found = re.findall(r"after (\d+(?:\.\d+)?) (ms|s)\b", detail)
    assert found, detail
    value, unit = found[-1]
    return float(value) / (1000 if unit == "ms" else 1)


def assert_network(result: CheckResult, problem: str) -> None:
    assert result.status == "fail" and result.problem == problem, result
    assert "not tested" in result.fix, result  # the credential was never asked about
    assert "invalid" not in result.fix and "expired" not in result.fix, result
    assert "+" not in result.detail.split("[after")[0].rsplit("after", 1)[-1], result


def test_a_closed_port_is_unreachable(closed_port: int) -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": f"http://127.0.0.1:{closed_port}"}
    results = check(env)
    for name in ("github token", "github PR gate (token)"):  # pr-gate's check too
        assert_network(results[name], "unreachable")
        assert "connection refused" in results[name].detail, results[name]
        assert "check GITHUB_API_URL, DNS" in results[name].fix


def test_a_server_that_never_answers_timed_out_and_says_how_long(silent_port: int) -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": f"http://127.0.0.1:{silent_port}"}
    results = check(env, timeout_s=1.0)
    for name in ("github token", "github PR gate (token)"):
        result = results[name]
        assert_network(result, "timed_out")
        assert "did not answer" in result.detail, result
        # The measured wait: at least the 1 s read timeout, never the configured "3+5 s".
        message = result.detail.split(" [after")[0]
        assert waited_s(message) >= 1.0, result
        assert waited_s(result.detail) >= waited_s(message), result


def test_a_tls_mismatch_is_tls(vendor: FakeServer) -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": vendor.url.replace("http:", "https:")}
    for name, result in check({**env, "GITHUB_API_URL": env["GITHUB_API_URL"] + "/github"}).items():
        assert_network(result, "tls")
        assert "TLS handshake" in result.detail and "TLS" in result.fix, name


def test_401_is_unauthorized(vendor: FakeServer) -> None:
    results = check({"GITHUB_TOKEN": "wrong", "GITHUB_API_URL": f"{vendor.url}/github"})
    for name in ("github token", "github PR gate (token)"):
        assert results[name].problem == "unauthorized", results[name]
        assert "GITHUB_TOKEN is invalid or expired" in results[name].fix


def test_403_with_scope_headers_is_a_missing_scope_named(vendor: FakeServer) -> None:
    results = check({"GITHUB_TOKEN": "narrow", "GITHUB_API_URL": f"{vendor.url}/github"})
    for name in ("github token", "github PR gate (token)"):
        result = results[name]
        assert result.problem == "missing_scope", result
        assert "needs one of the scopes: repo; the token has: read:org" in result.detail
        assert "lacks" in result.fix or "scope" in result.fix, result


def test_slack_missing_scope_names_the_scope(vendor: FakeServer) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-narrow", "SLACK_API_URL": f"{vendor.url}/slack"}
    result = check(env)["slack auth.test"]
    assert result.problem == "missing_scope", result
    assert "users:read" in result.fix and "needed: users:read" in result.detail


def test_404_and_channel_not_found_are_missing_resources(
    vendor: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cievents.checks import registry

    monkeypatch.setattr(registry, "routed_slack_channels", lambda: ["C-gone"])
    env = {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": f"{vendor.url}/github",
        "CHECK_GITHUB_REPOS": "acme/secret",
        "SLACK_BOT_TOKEN": "xoxb-good",
        "SLACK_API_URL": f"{vendor.url}/slack",
        "JIRA_URL": f"{vendor.url}/jira",
        "JIRA_PAT": "pat",
        "JIRA_PROJECTS": "NOPE",
    }
    results = check(env)
    expected = {
        "github repo acme/secret": "cannot see acme/secret",
        "slack channel C-gone": "no such channel",
        "jira project NOPE": "project NOPE does not exist",
    }
    for name, fix in expected.items():
        assert results[name].problem == "missing_resource", results[name]
        assert fix in results[name].fix, results[name]
    assert results["github token"].problem == "" and results["github token"].status == "pass"


def test_the_table_and_json_show_the_problem(
    closed_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{closed_port}")
    assert main(["check", "--function", "github_status"]) == 1
    table = capsys.readouterr().out
    assert "problem" in table.splitlines()[0] and "unreachable" in table
    assert main(["check", "--function", "github_status", "--format", "json"]) == 1
    assert '"problem": "unreachable"' in capsys.readouterr().out
