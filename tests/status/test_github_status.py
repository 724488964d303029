"""github_status against local servers speaking the GitHub, GitLab and Bitbucket status APIs."""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from cievents.vcs.repo import Repository, parse_repository
from tests.conftest import CapturedLog
from tests.notify.events import build, job, push_body
from tests.support.apps import function_client
from tests.support.fakehttp import FakeServer, Reply

SOURCE = str(Path(__file__).parents[2] / "functions" / "github_status" / "main.py")
TOKEN = "gh-test-token-not-real"
SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
ids = itertools.count(1)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


@pytest.fixture
def api() -> Iterator[FakeServer]:
    fake = FakeServer()
    check_ids = itertools.count(100)

    def authorized(req: Any) -> bool:
        return req.headers.get("authorization") in (f"Bearer {TOKEN}", "Bearer ghs_installation")

    @fake.route("POST", "/gh/repos/acme-inc/web-app/statuses/(?P<sha>[0-9a-f]{40})")
    def status(req: Any) -> Reply:
        if not authorized(req):
            return Reply(401, {"message": "Bad credentials"})
        return Reply(201, {"id": 1, "state": req.json()["state"]})

    @fake.route("POST", "/gh/repos/acme-inc/unknown/statuses/.*")
    def unknown(req: Any) -> Reply:
        return Reply(404, {"message": "Not Found"})

    @fake.route("POST", "/gh/app/installations/77/access_tokens")
    def installation(req: Any) -> Reply:
        token = req.headers["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, KEY.public_key(), algorithms=["RS256"])
        assert claims["iss"] == "12345" and claims["exp"] - claims["iat"] <= 600
        return Reply(201, {"token": "ghs_installation", "expires_at": "2099-01-01T00:00:00Z"})

    @fake.route("POST", "/gh/repos/acme-inc/web-app/check-runs")
    def create_check(req: Any) -> Reply:
        return Reply(201, {"id": next(check_ids)})

    @fake.route("PATCH", "/gh/repos/acme-inc/web-app/check-runs/(?P<id>\\d+)")
    def update_check(req: Any) -> Reply:
        return Reply(200, {"id": int(req.match.group("id"))})

    @fake.route("POST", "/gl/projects/group%2Fsub%2Fapp/statuses/.*")
    def gitlab(req: Any) -> Reply:
        return (
            Reply(201, {"id": 1}) if req.headers.get("private-token") == TOKEN else Reply(401, {})
        )

    @fake.route("POST", "/bb/repositories/team/app/commit/.*/statuses/build")
    def bitbucket(req: Any) -> Reply:
        return Reply(201, {"key": req.json()["key"]})

    with fake:
        yield fake


@pytest.fixture
def client_for(
    api: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., FlaskClient]:
    def make(**env: str) -> FlaskClient:
        return function_client(
            monkeypatch,
            SOURCE,
            {
                "GITHUB_API_URL": f"{api.url}/gh",
                "GITLAB_API_URL": f"{api.url}/gl",
                "BITBUCKET_API_URL": f"{api.url}/bb",
                "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
                **env,
            },
        )

    return make


def deliver(client: FlaskClient, payload: dict[str, Any]) -> int:
    return client.post("/", json=push_body(payload, f"g{next(ids)}")).status_code


def statuses(api: FakeServer) -> list[dict[str, Any]]:
    return [r.json() for r in api.calls("POST", "/gh/repos/acme-inc/web-app/statuses/.*")]


@pytest.mark.parametrize("seed", [None, 7, 8, 9])
def test_shuffled_redelivery_gives_one_final_status(
    client_for: Callable[..., FlaskClient], api: FakeServer, seed: int | None
) -> None:
    client = client_for(GITHUB_TOKEN=TOKEN)
    events = [
        build("build.scheduled", "scheduled"),
        build("build.running", "running"),
        build("build.finished", "failed"),
    ]
    deliveries = [e for e in events for _ in range(3)]
    if seed is not None:
        random.Random(seed).shuffle(deliveries)
    for payload in deliveries:
        assert deliver(client, payload) == 200
    sent = statuses(api)
    assert sent[-1]["state"] == "failure"
    assert [s["state"] for s in sent].count("failure") == 1
    assert len(sent) <= 2  # at most pending once, then the result
    assert sent[-1] == {
        "state": "failure",
        "context": "buildkite/web-app",
        "description": "Build #42 failed in 3m12s",
        "target_url": "https://buildkite.com/acme-inc/web-app/builds/42",
    }


def test_blocked_and_canceled_follow_the_setting(
    client_for: Callable[..., FlaskClient], api: FakeServer
) -> None:
    client = client_for(GITHUB_TOKEN=TOKEN, STATUS_OTHER_STATE="error")
    deliver(client, build("build.finished", "canceled", number=50))
    assert statuses(api)[-1]["state"] == "error"


def test_github_app_check_run_lists_failed_jobs(
    client_for: Callable[..., FlaskClient], api: FakeServer
) -> None:
    client = client_for(
        GITHUB_APP_ID="12345", GITHUB_APP_PRIVATE_KEY=PEM, GITHUB_APP_INSTALLATION_ID="77"
    )
    deliver(client, build("build.running", "running"))
    deliver(client, job("job-a", ":rspec: Tests"))
    deliver(client, build("build.finished", "failed"))
    assert len(api.calls("POST", "/gh/app/installations/77/access_tokens")) == 1  # cached
    (created,) = api.calls("POST", "/gh/repos/acme-inc/web-app/check-runs")
    assert created.json()["status"] == "in_progress"
    (updated,) = api.calls("PATCH", "/gh/repos/acme-inc/web-app/check-runs/100")
    body = updated.json()
    assert body["conclusion"] == "failure" and body["status"] == "completed"
    assert ":rspec: Tests" in body["output"]["summary"]
    assert all(
        r.headers["authorization"] == "Bearer ghs_installation"
        for r in api.calls("POST", "/gh/repos/acme-inc/web-app/statuses/.*")
    )


def test_annotations_are_paged_fifty_per_request(api: FakeServer) -> None:
    from cievents.scm.github import GitHubClient

    github = GitHubClient(api_url=f"{api.url}/gh", token=TOKEN)
    notes = [
        {
            "path": "a.py",
            "start_line": n,
            "end_line": n,
            "annotation_level": "failure",
            "message": "m",
        }
        for n in range(1, 121)
    ]
    github.upsert_check_run(
        "acme-inc/web-app",
        SHA,
        "scan",
        check_run_id=None,
        status="completed",
        conclusion="failure",
        details_url=None,
        title="t",
        summary="s",
        annotations=notes,
    )
    sizes = [len(r.json()["output"]["annotations"]) for r in api.requests]
    assert sizes == [50, 50, 20]


def gitlab_build(url: str, number: int = 60) -> dict[str, Any]:
    payload = copy.deepcopy(build("build.finished", "passed", number=number))
    payload["pipeline"]["repository"] = url
    return payload


def test_gitlab_and_bitbucket_repositories(
    client_for: Callable[..., FlaskClient], api: FakeServer
) -> None:
    client = client_for(GITLAB_TOKEN=TOKEN, BITBUCKET_TOKEN=TOKEN)
    deliver(client, gitlab_build("git@gitlab.com:group/sub/app.git"))
    deliver(client, gitlab_build("https://bitbucket.org/team/app.git", number=61))
    (gl,) = api.calls("POST", "/gl/.*")
    assert gl.json()["state"] == "success" and gl.json()["name"] == "buildkite/web-app"
    (bb,) = api.calls("POST", "/bb/.*")
    assert bb.json()["state"] == "SUCCESSFUL" and bb.json()["url"].endswith("/builds/61")


@pytest.mark.parametrize(
    ("reply", "status", "outcome"),
    [
        (
            Reply(
                403,
                {"message": "API rate limit exceeded"},
                {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"},
            ),
            500,
            "retried",
        ),
        (Reply(429, {"message": "secondary rate limit"}, {"Retry-After": "60"}), 500, "retried"),
        (Reply(502, "bad gateway"), 500, "retried"),
        (Reply(422, {"message": "No commit found for SHA"}), 200, "failed"),
        (Reply(401, {"message": "Bad credentials"}), 200, "failed"),
    ],
)
def test_rate_limits_retry_and_auth_failures_ack(
    client_for: Callable[..., FlaskClient],
    api: FakeServer,
    captured_log: CapturedLog,
    reply: Reply,
    status: int,
    outcome: str,
) -> None:
    for _ in range(3):
        api.queue("POST", "/gh/repos/acme-inc/web-app/statuses/.*", reply)
    client = client_for(GITHUB_TOKEN=TOKEN)
    assert deliver(client, build("build.finished", "failed")) == status
    assert captured_log.outcomes()[-1]["outcome"] == outcome
    assert TOKEN not in captured_log.text


def test_unknown_repository_is_permanent(
    client_for: Callable[..., FlaskClient], captured_log: CapturedLog
) -> None:
    payload = gitlab_build("git@github.com:acme-inc/unknown.git")
    assert deliver(client_for(GITHUB_TOKEN=TOKEN), payload) == 200
    line = captured_log.outcomes()[-1]
    assert line["outcome"] == "failed" and line["reason"] == "unknown_target"


def test_dry_run_without_credentials(
    client_for: Callable[..., FlaskClient], api: FakeServer, tmp_path: Path
) -> None:
    deliver(client_for(), build("build.finished", "passed"))
    assert api.requests == []
    assert "statuses" in (tmp_path / "outbox" / "github.jsonl").read_text()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:acme/web.git", Repository("github", "github.com", "acme/web")),
        ("https://github.com/acme/web", Repository("github", "github.com", "acme/web")),
        ("ssh://git@github.com/acme/web.git", Repository("github", "github.com", "acme/web")),
        ("git@ghe.corp.example:team/svc.git", Repository("github", "ghe.corp.example", "team/svc")),
        ("ssh://git@gitlab.com:22/g/s/app.git", Repository("gitlab", "gitlab.com", "g/s/app")),
        (
            "https://user@bitbucket.org/team/app.git",
            Repository("bitbucket", "bitbucket.org", "team/app"),
        ),
        ("https://example.com/some/repo.git", None),
        ("", None),
    ],
)
def test_repository_urls(url: str, expected: Repository | None) -> None:
    assert parse_repository(url, github_hosts=["ghe.corp.example"]) == expected
