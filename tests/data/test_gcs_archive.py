"""gcs_archive with the real google-cloud-storage client against fake-gcs-server."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cievents import archive, clock
from cievents.envelope import Message
from tests.conftest import VENDOR, CapturedLog
from tests.support.apps import function_client
from tests.support.emulators import RunningServer

SOURCE = str(Path(__file__).parents[2] / "functions" / "gcs_archive" / "main.py")
RAW = (VENDOR / "github" / "push.json").read_bytes()


def push(data: bytes, message_id: str, **attributes: str) -> dict[str, Any]:
    """A push body published now (by the library clock), as Pub/Sub would deliver it."""
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "publishTime": clock.now_iso(),
            "attributes": {"source": "github", "event": "push", "delivery_id": "d-1", **attributes},
        },
        "subscription": "projects/p/subscriptions/gcs_archive",
    }


def day(body: dict[str, Any]) -> str:
    """The date partition of a push body's publishTime."""
    return str(body["message"]["publishTime"])[:10]


@pytest.fixture
def gcs(gcs_emulator: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{gcs_emulator.host}")
    client = storage.Client(project="archive-test", credentials=AnonymousCredentials())
    bucket = client.bucket(f"archive-{uuid.uuid4().hex[:12]}")
    bucket.create()
    return bucket


@pytest.fixture
def client_for(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FlaskClient]:
    def make(**env: str) -> FlaskClient:
        return function_client(monkeypatch, SOURCE, env)

    return make


def test_archives_once_in_hive_layout(
    gcs: Any,
    client_for: Callable[..., FlaskClient],
    captured_log: CapturedLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "archive-test")
    client = client_for(ARCHIVE_BUCKET=gcs.name, ARCHIVE_PREFIX="raw")
    body = push(RAW, "m-1", pipeline="web", state="passed")
    for _ in range(3):  # at-least-once delivery
        assert client.post("/", json=body).status_code == 200
    blobs = list(gcs.list_blobs())
    assert [b.name for b in blobs] == [f"raw/source=github/event=push/dt={day(body)}/m-1.json"]
    blob = gcs.get_blob(blobs[0].name)
    content = blob.download_as_bytes()
    assert content.endswith(b"\n") and content.count(b"\n") == 1  # one NDJSON line
    assert archive.restore_body(content) == RAW  # byte for byte
    line = json.loads(content)
    assert line["message_id"] == "m-1" and line["publish_time"] == body["message"]["publishTime"]
    assert line["attributes"]["delivery_id"] == "d-1" and line["body_base64"] is False
    assert blob.metadata == {
        "source": "github",
        "event": "push",
        "delivery_id": "d-1",
        "pipeline": "web",
        "state": "passed",
    }
    assert blob.content_type == "application/x-ndjson"
    assert [o["outcome"] for o in captured_log.outcomes()] == ["acted", "duplicate", "duplicate"]


def test_gzip_and_non_utf8_bodies(gcs: Any, client_for: Callable[..., FlaskClient]) -> None:
    data = b"\xff\xfe binary \x00 payload"
    client = client_for(ARCHIVE_BUCKET=gcs.name, ARCHIVE_GZIP="true")
    body = push(data, "bin-1", event="odd/event name")
    assert client.post("/", json=body).status_code == 200
    (blob,) = list(gcs.list_blobs())
    assert blob.name == f"source=github/event=odd_event_name/dt={day(body)}/bin-1.json.gz"
    raw = gcs.get_blob(blob.name).download_as_bytes(raw_download=True)
    line = gzip.decompress(raw)
    assert json.loads(line)["body_base64"] is True and archive.restore_body(line) == data


def test_local_directory_default(tmp_path: Path, client_for: Callable[..., FlaskClient]) -> None:
    client = client_for(ARCHIVE_DIR=str(tmp_path / "archive"))
    body = push(RAW, "m-9")
    body["message"]["attributes"] = {}  # a message from another tool: no attributes at all
    assert client.post("/", json=body).status_code == 200
    assert client.post("/", json=body).status_code == 200
    files = [p.relative_to(tmp_path) for p in (tmp_path / "archive").rglob("*.json")]
    assert [str(f) for f in files] == [
        f"archive/source=unknown/event=unknown/dt={day(body)}/m-9.json"
    ]


def test_record_is_deterministic() -> None:
    message = Message(
        id="x",
        data=RAW,
        attributes={"b": "2", "a": "1"},
        publish_time=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert archive.record(message) == archive.record(message)
    assert archive.object_name(message) == "source=unknown/event=unknown/dt=2026-01-02/x.json"
