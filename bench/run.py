"""`make bench`: run every benchmark in bench/ and print its figures.

Each benchmark is a module here with a ``main(argv) -> int`` that prints a
table. Run one alone with ``python bench/run.py NAME`` (e.g. ``cold_start``).
Figures are measurements, never assertions: they vary with the machine.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = [
    "cold_start",
    "ingest_latency",
    "event_overhead",
    "burst",
    "secret_scan",
    "log_masking",
    "committed_scan",
]


def available() -> list[str]:
    found = []
    for name in ORDER:
        if (ROOT / "bench" / f"{name}.py").exists() or (
            ROOT / "bench" / name / "__init__.py"
        ).exists():
            found.append(name)
    return found


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    chosen = argv or available()
    print(
        f"# ci-event-functions benchmarks — {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    status = 0
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        code = int(module.main([]) or 0)
        print(f"\n({name}: {time.perf_counter() - started:.1f} s)", flush=True)
        status = status or code
    from bench.summary import print_table

    print_table()
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
