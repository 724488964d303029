"""`cievents replay` against the real ingest app served over HTTP on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import functions_framework
import pytest
from werkzeug.serving import make_server

from cievents.cli import main
from tests.conftest import CapturedLog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ingest_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    for source in ("BUILDKITE", "GITHUB", "JIRA"):
        monkeypatch.setenv(f"WEBHOOK_SECRET_{source}", "replay-secret")
    monkeypatch.setenv("CIEVENTS_PUBLISH_TO", f"file:{tmp_path / 'published.jsonl'}")
    app = functions_framework.create_app(
        target="ingest", source=str(ROOT / "functions/ingest/main.py"), signature_type="http"
    )
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_replays_a_folder_signed(
    ingest_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], captured_log: CapturedLog
) -> None:
    events = ROOT / "examples" / "events"
    files = [
        events / "0900-web-app-101-scheduled.json",
        events / "1030-github-push.json",
        events / "1600-jira-SHOP-412-done.json",
    ]
    assert main(["replay", *map(str, files), "--url", ingest_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [
        ["202", "buildkite"],
        ["202", "github"],
        ["202", "jira"],
    ]
    assert len((tmp_path / "published.jsonl").read_text().splitlines()) == 3


def test_wrong_secret_is_reported(
    ingest_url: str, capsys: pytest.CaptureFixture[str], captured_log: CapturedLog
) -> None:
    path = ROOT / "examples" / "events" / "0900-web-app-101-scheduled.json"
    assert main(["replay", str(path), "--url", ingest_url, "--secret", "wrong"]) == 1
    assert capsys.readouterr().out.startswith("401")
