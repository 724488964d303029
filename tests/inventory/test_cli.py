"""``cievents inventory`` in its own process against the loopback fakes: JSON and table
output, filters, the progress bar, a second run that writes nothing, and misuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.inventory.fleet import fleet

ROOT = Path(__file__).resolve().parents[2]


def cli(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
        "CIEVENTS_TRACING": "off",
    }
    return subprocess.run(
        [sys.executable, "-m", "cievents.cli", "inventory", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**base, **env},
        timeout=300,
        check=False,
    )


def test_json_table_filters_progress_and_a_quiet_second_run(tmp_path: Path) -> None:
    db = str(tmp_path / "inv.duckdb")
    with fleet(80, 80, 80, 80, page_size=20) as world:
        env = world.env()
        first = cli(["--format", "json", "--db", db, "--progress"], env, tmp_path)
        assert first.returncode == 0, first.stderr[-2000:]
        out = json.loads(first.stdout)
        assert len(out["repositories"]) == 320
        assert out["sync"]["written"] == 320
        assert {r["scm"] for r in out["repositories"]} == {"github", "gitlab", "bitbucket", "azure"}
        assert "owners, " in first.stderr and "[" in first.stderr  # the progress bar

        public = cli(
            [
                "--scm",
                "github",
                "--status",
                "active",
                "--visibility",
                "public",
                "--db",
                db,
                "--format",
                "json",
            ],
            env,
            tmp_path,
        )
        assert public.returncode == 0, public.stderr[-2000:]
        shown = json.loads(public.stdout)
        assert shown["sync"]["written"] == 0  # nothing changed on GitHub since
        rows = shown["repositories"]
        assert rows and all(
            r["scm"] == "github" and r["visibility"] == "public" and not r["archived"] for r in rows
        )
        table = cli(
            ["--no-sync", "--scm", "gitlab", "--language", "none", "--db", db], env, tmp_path
        )
        assert table.returncode == 0
        assert table.stdout.splitlines()[0].split()[:3] == ["SCM", "REPOSITORY", "STATUS"]
        listed = cli(["--no-sync", "--scm", "azure", "--db", db], env, tmp_path)
        assert len(listed.stdout.splitlines()) == 81  # header + 80


def test_misuse_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad_scm = cli(["--scm", "sourceforge"], {}, tmp_path)
    assert bad_scm.returncode == 2 and "expected a comma-separated list" in bad_scm.stderr
    assert len(bad_scm.stderr.strip().splitlines()) == 1
    nothing = cli(["--db", str(tmp_path / "x.duckdb")], {}, tmp_path)
    assert nothing.returncode == 2 and "no SCM credentials" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1
