"""``cievents report [--db PATH] [--out FILE]``: the build-health views as an HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=Path(".cievents/metrics.duckdb"),
        help="the local metrics database (default .cievents/metrics.duckdb; "
        "make demo writes .demo/metrics.duckdb)",
    )
    parser.add_argument("--out", type=Path, default=Path("build-health.html"))


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"cievents report: no metrics database at {args.db}", file=sys.stderr)
        return 2
    from cievents.metrics.duckdb_store import DuckDBStore
    from cievents.metrics.report import render

    store = DuckDBStore(args.db)
    page = render(
        store.query("SELECT * FROM build_health ORDER BY pipeline, day"),
        store.query("SELECT * FROM dora ORDER BY pipeline"),
    )
    args.out.write_text(page, "utf-8")
    print(f"wrote {args.out}")
    return 0
