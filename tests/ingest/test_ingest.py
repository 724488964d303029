"""ingest through functions-framework: real fixture bodies, signed as each vendor signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from cievents import clock
from cievents.webhooks import Refusal, verify
from cievents.webhooks.signing import sign_headers
from tests.conftest import VENDOR, CapturedLog, vendor_fixtures

SOURCE = str(Path(__file__).parents[2] / "functions" / "ingest" / "main.py")
SECRET = "test-webhook-secret-1"
OLD_SECRET = "test-webhook-secret-0"
ALL_SOURCES = ("buildkite", "github", "gitlab", "bitbucket", "azure-devops", "jira")


def env_name(source: str) -> str:
    return "WEBHOOK_SECRET_" + source.upper().replace("-", "_")


@pytest.fixture
def published(tmp_path: Path) -> Path:
    return tmp_path / "published.jsonl"


@pytest.fixture
def app_client(monkeypatch: pytest.MonkeyPatch, published: Path) -> Callable[..., FlaskClient]:
    def make(**env: str) -> FlaskClient:
        for source in ALL_SOURCES:
            monkeypatch.setenv(env_name(source), f"{SECRET},{OLD_SECRET}")
        monkeypatch.setenv("CIEVENTS_PUBLISH_TO", f"file:{published}")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = functions_framework.create_app(target="ingest", source=SOURCE, signature_type="http")
        return app.test_client()

    return make


def messages(published: Path) -> list[dict[str, Any]]:
    if not published.exists():
        return []
    return [json.loads(line) for line in published.read_text().splitlines()]


def vendor_event(path: Path, source: str, body: dict[str, Any]) -> str:
    """The vendor's event name for a fixture, as its README defines the file names."""
    parts = path.name.removesuffix(".json").split(".")
    if source == "github":
        return parts[0]
    if source == "bitbucket":
        return f"{parts[0]}:{parts[1]}"
    if source == "gitlab":
        return str(body["object_kind"])
    if source == "azure-devops":
        return str(body["eventType"])
    if source == "jira":
        return str(body["webhookEvent"])
    return str(body["event"])


FIXTURES = [(p.parent.name, p) for p in vendor_fixtures()]


@pytest.mark.parametrize(("source", "path"), FIXTURES, ids=[f"{s}/{p.name}" for s, p in FIXTURES])
def test_every_signed_fixture_is_published_unchanged(
    app_client: Callable[..., FlaskClient], published: Path, source: str, path: Path
) -> None:
    raw = path.read_bytes()
    body = json.loads(raw)
    event = vendor_event(path, source, body)
    headers = sign_headers(source, raw, SECRET, event=event)
    response = app_client().post(f"/{source}", data=raw, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    (message,) = messages(published)
    assert base64.b64decode(message["data"]) == raw  # byte for byte
    attributes = message["attributes"]
    assert attributes["source"] == source and attributes["event"] == event
    assert attributes["delivery_id"]


def test_cheap_attributes(app_client: Callable[..., FlaskClient], published: Path) -> None:
    raw = (VENDOR.parent / "own" / "buildkite" / "job.finished.failed.json").read_bytes()
    client = app_client()
    client.post("/buildkite", data=raw, headers=sign_headers("buildkite", raw, SECRET))
    raw_pr = (VENDOR / "github" / "pull_request.opened.json").read_bytes()
    client.post(
        "/github",
        data=raw_pr,
        headers={
            **sign_headers("github", raw_pr, SECRET, event="pull_request"),
            "X-GitHub-Delivery": "g-1",
        },
    )
    bk, gh = (m["attributes"] for m in messages(published))
    assert bk == {
        "source": "buildkite",
        "event": "job.finished",
        "pipeline": "web-app",
        "branch": "fix/SHOP-311-rounding",
        "state": "failed",
        "delivery_id": bk["delivery_id"],
    }
    assert bk["delivery_id"].startswith("sha256:")
    # The key is signed material (a digest of the body); the unsigned header is kept aside.
    assert gh["delivery_id"].startswith("sha256:") and gh["vendor_delivery"] == "g-1"
    assert gh["state"] == "opened" and gh["branch"]


def test_duplicate_deliveries_are_published_once(
    app_client: Callable[..., FlaskClient], published: Path, captured_log: CapturedLog
) -> None:
    raw = (VENDOR / "github" / "push.json").read_bytes()
    headers = {**sign_headers("github", raw, SECRET, event="push"), "X-GitHub-Delivery": "d-42"}
    client = app_client()
    assert [client.post("/github", data=raw, headers=headers).status_code for _ in range(3)] == [
        202
    ] * 3
    assert len(messages(published)) == 1
    outcomes = [line["outcome"] for line in captured_log.lines if "outcome" in line]
    assert outcomes == ["published", "duplicate", "duplicate"]


def test_rotation_accepts_every_configured_secret(
    app_client: Callable[..., FlaskClient], published: Path
) -> None:
    raw = (VENDOR / "bitbucket" / "repo.push.json").read_bytes()
    client = app_client()
    for n, secret in enumerate((SECRET, OLD_SECRET)):
        headers = {
            **sign_headers("bitbucket", raw, secret, event="repo:push"),
            "X-Request-UUID": f"r-{n}",
        }
        assert client.post("/bitbucket", data=raw, headers=headers).status_code == 202
    # Both secrets verify; the same body is one delivery whatever its unsigned header says.
    assert len(messages(published)) == 1


PING = (VENDOR / "buildkite" / "ping.json").read_bytes()


@pytest.mark.parametrize(
    ("name", "request_kwargs", "status"),
    [  # headers are built when the request is sent, so a signature is never older than its test
        ("unknown source", {"path": "/svn", "headers": dict}, 404),
        ("wrong method", {"method": "GET", "headers": dict}, 405),
        ("missing signature", {"headers": lambda: {"Content-Type": "application/json"}}, 401),
        (
            "bad signature",
            {"headers": lambda: sign_headers("buildkite", PING, "not-the-secret")},
            401,
        ),
        (
            "stale timestamp",
            {"headers": lambda: sign_headers("buildkite", PING, SECRET, now=clock.now() - 3600)},
            401,
        ),
        ("wrong token", {"headers": lambda: {"X-Buildkite-Token": "nope"}}, 401),
        (
            "non-JSON",
            {
                "data": b"not json",
                "headers": lambda: sign_headers("buildkite", b"not json", SECRET),
            },
            400,
        ),
        (
            "JSON array",
            {"data": b"[1]", "headers": lambda: sign_headers("buildkite", b"[1]", SECRET)},
            400,
        ),
        ("too large", {"data": b"{" + b" " * 2048 + b"}", "headers": dict}, 413),
    ],
)
def test_refusals_publish_nothing(
    app_client: Callable[..., FlaskClient],
    published: Path,
    captured_log: CapturedLog,
    name: str,
    request_kwargs: dict[str, Any],
    status: int,
) -> None:
    client = app_client(CIEVENTS_MAX_BODY_BYTES="1024")
    method = request_kwargs.get("method", "POST")
    response = client.open(
        request_kwargs.get("path", "/buildkite"),
        method=method,
        data=request_kwargs.get("data", PING),
        headers=request_kwargs["headers"](),
    )
    assert response.status_code == status
    assert json.loads(response.get_data()) == {"status": "refused"}  # no detail to the caller
    assert messages(published) == []
    (line,) = [line for line in captured_log.lines if line.get("outcome") == "refused"]
    assert line["status"] == status and line["reason"]
    assert SECRET not in captured_log.text and OLD_SECRET not in captured_log.text


def test_a_source_without_secret_is_refused(
    app_client: Callable[..., FlaskClient], published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (VENDOR / "jira" / "jira.issue_created.json").read_bytes()
    client = app_client(WEBHOOK_SECRET_JIRA="")
    assert (
        client.post("/jira", data=raw, headers=sign_headers("jira", raw, SECRET)).status_code == 401
    )
    assert messages(published) == []


def test_jira_token_in_url_and_azure_shared_header(
    app_client: Callable[..., FlaskClient], published: Path
) -> None:
    client = app_client()
    raw = (VENDOR / "jira" / "comment_created.json").read_bytes()
    assert client.post(f"/jira?token={SECRET}", data=raw).status_code == 202
    assert client.post("/jira?token=wrong", data=raw).status_code == 401
    raw = (VENDOR / "azure-devops" / "git.push.json").read_bytes()
    assert (
        client.post("/azure-devops", data=raw, headers={"X-Cievents-Token": OLD_SECRET}).status_code
        == 202
    )
    assert len(messages(published)) == 2


def test_pubsub_down_is_503_so_the_vendor_retries(
    app_client: Callable[..., FlaskClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app_client(CIEVENTS_PUBLISH_TO="http://127.0.0.1:9/publish")
    assert (
        client.post(
            "/buildkite", data=PING, headers=sign_headers("buildkite", PING, SECRET)
        ).status_code
        == 503
    )
    # The claim was released: once Pub/Sub is back, the vendor's retry is published.


# --- the vendors' own test vectors (fixtures README) -----------------------------------


def test_buildkite_vector() -> None:
    header = (
        "timestamp=1642080837,signature="
        "582d496ac2d869dd97a3101c4cda346288c49a742592daf582ec64c86449f79c"
    )
    headers = {"x-buildkite-signature": header}
    verify("buildkite", headers, PING, ["29b1ff5779c76bd48ba6705eb99ff970"], now=1642080837)
    with pytest.raises(Refusal, match="stale"):
        verify(
            "buildkite", headers, PING, ["29b1ff5779c76bd48ba6705eb99ff970"], now=1642080837 + 301
        )
    with pytest.raises(Refusal, match="does not match"):  # the body alone must not verify
        digest = hmac.new(b"29b1ff5779c76bd48ba6705eb99ff970", PING, hashlib.sha256).hexdigest()
        verify(
            "buildkite",
            {"x-buildkite-signature": f"timestamp=1642080837,signature={digest}"},
            PING,
            ["29b1ff5779c76bd48ba6705eb99ff970"],
            now=1642080837,
        )


def test_bitbucket_vector() -> None:
    raw = (VENDOR / "bitbucket" / "repo.push.branch-created.signed.json").read_bytes()
    headers = {
        "x-hub-signature": "sha256=f205c729821c6954aff2afe72b965c34015b4baf96ea8ddc2cc44999c014a035"
    }
    verify("bitbucket", headers, raw, ["Gkvl$k$wyNpQAF42"], now=0)
    with pytest.raises(Refusal):
        verify("bitbucket", headers, raw + b" ", ["Gkvl$k$wyNpQAF42"], now=0)


def test_github_vector() -> None:
    digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {"x-hub-signature-256": f"sha256={digest}"}
    verify("github", headers, b"Hello, World!", ["It's a Secret to Everybody"], now=0)
    with pytest.raises(Refusal):
        verify("github", {"x-hub-signature": "sha1=abc"}, b"Hello, World!", ["x"], now=0)


def test_gitlab_standard_webhooks_signature() -> None:
    body, key = b'{"object_kind":"push"}', base64.b64encode(b"signing-key").decode()
    signed = b"msg_1.1700000000." + body
    signature = base64.b64encode(hmac.new(b"signing-key", signed, hashlib.sha256).digest()).decode()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1,{signature}",
    }
    verify("gitlab", headers, body, [f"whsec_{key}"], now=1700000010)
    with pytest.raises(Refusal, match="stale"):
        verify("gitlab", headers, body, [f"whsec_{key}"], now=1700009999)


def test_pubsub_emulator_round_trip(
    pubsub_emulator: Any, monkeypatch: pytest.MonkeyPatch, app_client: Callable[..., FlaskClient]
) -> None:
    import google.cloud.pubsub_v1 as pubsub_v1

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "ingest-test")
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.topic_path("ingest-test", "ci-events")
    subscription = subscriber.subscription_path("ingest-test", "check")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic)
    client = app_client(CIEVENTS_PUBLISH_TO="", CIEVENTS_TOPIC="ci-events")
    raw = (VENDOR / "gitlab" / "pipeline.json").read_bytes()
    response = client.post("/gitlab", data=raw, headers=sign_headers("gitlab", raw, SECRET))
    assert response.status_code == 202
    pulled = subscriber.pull(request={"subscription": subscription, "max_messages": 10}, timeout=30)
    (received,) = pulled.received_messages
    assert received.message.data == raw
    assert dict(received.message.attributes)["event"] == "pipeline"
    assert dict(received.message.attributes)["source"] == "gitlab"
