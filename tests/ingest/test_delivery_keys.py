"""Delivery keys from signed material only, and hostile bodies, through the real ingest app.

A captured, validly signed request replayed with a new, forged or stripped delivery header
must publish nothing new: the key every function dedupes on is the signed webhook-id
(GitLab signing tokens) or a digest of source + exact body, never an unsigned header."""

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
from cievents.webhooks.signing import sign_headers
from tests.conftest import VENDOR, CapturedLog

SOURCE = str(Path(__file__).parents[2] / "functions" / "ingest" / "main.py")
SECRET = "delivery-key-secret"
GITLAB_KEY = "whsec_" + base64.b64encode(b"gitlab-signing-key").decode()
CASES = {
    "github": ("github/push.json", "X-GitHub-Delivery", "push"),
    "bitbucket": ("bitbucket/repo.push.json", "X-Request-UUID", "repo:push"),
    "buildkite": ("buildkite/ping.json", "X-Request-Id", "ping"),
    "gitlab": ("gitlab/pipeline.json", "Idempotency-Key", "Pipeline Hook"),
}


@pytest.fixture
def ingest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], FlaskClient]:
    published = tmp_path / "published.jsonl"

    def make() -> FlaskClient:  # a fresh app is a fresh instance (its recent set empty)
        for source in ("GITHUB", "BITBUCKET", "BUILDKITE", "JIRA", "AZURE_DEVOPS"):
            monkeypatch.setenv(f"WEBHOOK_SECRET_{source}", SECRET)
        monkeypatch.setenv("WEBHOOK_SECRET_GITLAB", f"{SECRET},{GITLAB_KEY}")
        monkeypatch.setenv("CIEVENTS_PUBLISH_TO", f"file:{published}")
        app = functions_framework.create_app(target="ingest", source=SOURCE, signature_type="http")
        return app.test_client()

    make.published = published  # type: ignore[attr-defined]
    return make


def published(ingest: Any) -> list[dict[str, Any]]:
    path: Path = ingest.published
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def standard_webhook(body: bytes, webhook_id: str) -> dict[str, str]:
    timestamp = str(int(clock.now()))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(b"gitlab-signing-key", signed, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


@pytest.mark.parametrize("source", list(CASES))
def test_a_replay_with_a_forged_or_stripped_delivery_header_publishes_nothing(
    ingest: Callable[[], FlaskClient], source: str
) -> None:
    fixture, header, event = CASES[source]
    raw = (VENDOR / fixture).read_bytes()
    signed = sign_headers(source, raw, SECRET, event=event)
    client = ingest()
    assert (
        client.post(f"/{source}", data=raw, headers={**signed, header: "original"}).status_code
        == 202
    )
    for replayed in ({**signed, header: "forged-new-id"}, signed):  # forged, then stripped
        assert client.post(f"/{source}", data=raw, headers=replayed).status_code == 202
    (message,) = published(ingest)
    attributes = message["attributes"]
    assert attributes["delivery_id"].startswith("sha256:")
    assert attributes["vendor_delivery"] == "original"  # kept, but only as a plain attribute
    # Another instance (its recent set empty) publishes the replay with the *same* key, so
    # every function behind the topic sees a duplicate.
    ingest().post(f"/{source}", data=raw, headers={**signed, header: "another-forgery"})
    keys = {m["attributes"]["delivery_id"] for m in published(ingest)}
    assert keys == {attributes["delivery_id"]}


def test_gitlab_signing_token_keys_on_the_signed_webhook_id(
    ingest: Callable[[], FlaskClient],
) -> None:
    raw = (VENDOR / "gitlab" / "pipeline.json").read_bytes()
    client = ingest()
    good = standard_webhook(raw, "msg_2Ak9x")
    assert client.post("/gitlab", data=raw, headers=good).status_code == 202
    assert published(ingest)[0]["attributes"]["delivery_id"] == "gitlab:msg_2Ak9x"
    # A new webhook-id on the captured signature does not verify: nothing is published.
    forged = {**good, "webhook-id": "msg_forged"}
    assert client.post("/gitlab", data=raw, headers=forged).status_code == 401
    # The signed scheme is checked first: a valid X-Gitlab-Token does not rescue a bad signature.
    both = {**forged, "X-Gitlab-Token": SECRET}
    assert client.post("/gitlab", data=raw, headers=both).status_code == 401
    assert len(published(ingest)) == 1


@pytest.mark.parametrize("timestamp", ["²", "١٧٠٠٠٠٠٠٠٠", "1e9", ""])
def test_non_ascii_digits_in_a_signed_header_are_refused_not_a_500(
    ingest: Callable[[], FlaskClient], timestamp: str, captured_log: CapturedLog
) -> None:
    raw = (VENDOR / "buildkite" / "ping.json").read_bytes()
    headers = {"X-Buildkite-Signature": f"timestamp={timestamp},signature={'0' * 64}"}
    assert ingest().post("/buildkite", data=raw, headers=headers).status_code == 401
    (line,) = [x for x in captured_log.lines if "outcome" in x]
    assert line["outcome"] == "refused" and "malformed" in line["reason"]


HOSTILE = {
    "nested": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "long_int": b'{"build": {"number": ' + b"9" * 5000 + b"}}",
    "nan": b'{"event": "ping", "x": NaN}',
    "deep_list": b"[" * 100 + b"]" * 100,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_json_after_authentication_is_a_400_with_one_line(
    ingest: Callable[[], FlaskClient], name: str, captured_log: CapturedLog
) -> None:
    raw = HOSTILE[name]
    status = ingest().post(
        "/github", data=raw, headers=sign_headers("github", raw, SECRET, event="push")
    )
    assert status.status_code == 400
    (line,) = [x for x in captured_log.lines if "outcome" in x]
    assert line["outcome"] == "refused" and line["status"] == 400
    assert published(ingest) == []
