"""`cievents parse`: JSON on stdout, exit 2 with one stderr line on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cievents.cli import main
from tests.conftest import OWN, VENDOR


def test_parse_prints_the_normalized_build(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(OWN / "buildkite" / "build.finished.failed.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    for field in (
        "source",
        "event",
        "kind",
        "pipeline",
        "number",
        "state",
        "branch",
        "commit",
        "url",
        "message",
        "author",
        "started_at",
        "finished_at",
        "duration_s",
        "pull_request",
        "jira_keys",
    ):
        assert field in out
    assert out["kind"] == "build" and out["jira_keys"] == ["SHOP-311"]


def test_parse_with_headers_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    headers = tmp_path / "h.json"
    headers.write_text(json.dumps({"X-Buildkite-Event": "ping"}))
    assert main(["parse", str(VENDOR / "buildkite" / "ping.json"), "--headers", str(headers)]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "ping"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{broken", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"event": "build.finished", "build": {}}', "pipeline.slug"),
        (b'{"hello": "world"}', "cannot tell the source"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, needle: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    assert main(["parse", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and needle in captured.err


def test_missing_file_and_unknown_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "/nonexistent.json"]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["parse", "x.json", "--source", "svn"])
    assert info.value.code == 2
