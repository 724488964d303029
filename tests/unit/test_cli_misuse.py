"""Every documented misuse of the ``cievents`` command: exit 2, one line on stderr that says
what is wrong, never a Python traceback (``--debug`` shows one)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.tools import ROOT

EVENT = ROOT / "examples" / "events" / "0900-web-app-101-running.json"


def cievents(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIEVENTS_", "WEBHOOK_"))}
    return subprocess.run(
        [sys.executable, "-m", "cievents.cli", *args],
        cwd=cwd,
        env={**env, "WEBHOOK_SECRET_BUILDKITE": "s3cret-for-replay"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def misuses(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name: (argv, what the one line must say)."""
    not_duckdb = tmp / "notes.duckdb"
    not_duckdb.write_text("this is not a DuckDB file\n")
    return {
        "unknown command": (["nosuch"], "invalid choice: 'nosuch'"),
        "mistyped scan option": (["scan", "--bogus", str(EVENT)], "cievents scan: error"),
        "replay against a dead URL": (
            ["replay", "--url", "http://127.0.0.1:9", str(EVENT)],
            "127.0.0.1:9",
        ),
        "demo with a missing events folder": (
            ["demo", "--events", str(tmp / "no-events")],
            "no-events",
        ),
        "report without a database": (["report", "--db", str(tmp / "none.duckdb")], "none.duckdb"),
        "report on a file that is not DuckDB": (
            ["report", "--db", str(not_duckdb)],
            "not a DuckDB database",
        ),
        "report into a missing folder": (
            ["report", "--db", str(not_duckdb), "--out", str(tmp / "no" / "x.html")],
            "no such folder",
        ),
        "check an unknown function": (["check", "--function", "nosuch"], "unknown function"),
        "check with a bad timeout": (["check", "--timeout", "soon"], "--timeout"),
        "parse a missing file": (["parse", str(tmp / "missing.json")], "missing.json"),
        "replay a missing file": (
            ["replay", "--url", "http://127.0.0.1:9", str(tmp / "gone.json")],
            "cievents replay: cannot read",
        ),
        "scan with a missing baseline": (
            ["scan", "--baseline", str(tmp / "base.json"), str(EVENT)],
            "cievents scan: --baseline",
        ),
        "scan with a missing allowlist": (
            ["scan", "--allowlist", str(tmp / "allow.txt"), str(EVENT)],
            "cievents scan: --allowlist",
        ),
        "dead-letters without a source": (["dead-letters", "list"], "--subscription --file"),
        "dead-letters on a missing file": (
            ["dead-letters", "list", "--file", str(tmp / "dl.jsonl")],
            "dl.jsonl",
        ),
        "check with an unknown format": (["check", "--format", "xml"], "invalid choice: 'xml'"),
        "demo with zero deliveries": (["demo", "--times", "0"], "--times"),
        "report over zero days": (["report", "--days", "0"], "--days"),
        "report serving on a bad port": (
            ["report", "--db", str(not_duckdb), "--serve", "--port", "99999"],
            "--port 99999",
        ),
        "dead-letters with a bad action": (["dead-letters", "forward"], "invalid choice"),
    }


@pytest.mark.slow
def test_each_documented_misuse_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = misuses(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        results = dict(
            zip(
                cases,
                pool.map(lambda c: cievents(*c[0], cwd=tmp_path), cases.values()),
                strict=True,
            )
        )
    for name, result in results.items():
        said = cases[name][1]
        out = result.stdout + result.stderr
        assert "Traceback" not in out, f"{name}:\n{out}"
        assert result.returncode == 2, f"{name}: exit {result.returncode}\n{out}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, f"{name}: {len(lines)} lines on stderr:\n{result.stderr}"
        assert said in lines[0], f"{name}: {lines[0]!r} does not say {said!r}"
    assert not (tmp_path / "build-health.html").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "db"  # a folder where a file should be: an OSError inside the command
    folder.mkdir()
    quiet = cievents("report", "--db", str(folder), cwd=tmp_path)
    assert quiet.returncode == 2 and quiet.stderr.strip().splitlines() == [
        f"cievents report: Is a directory: {folder}"
    ]
    loud = cievents("report", "--db", str(folder), "--debug", cwd=tmp_path)
    assert loud.returncode == 2 and "Traceback" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1] == f"cievents report: Is a directory: {folder}"
