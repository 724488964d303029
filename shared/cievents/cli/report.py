"""``cievents report [--db PATH] [--out FILE]``: the build-health views, and the compliance
section (open PRs by verdict, last quarter's non-compliant merges), as an HTML page."""

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
    parser.add_argument(
        "--out",
        type=Path,
        help="the page to write (default: build-health.html beside the database)",
    )


DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def run(args: argparse.Namespace) -> int:
    out: Path = args.out or args.db.parent / "build-health.html"
    if not args.db.exists():
        print(f"cievents report: no metrics database at {args.db}", file=sys.stderr)
        return 2
    if not out.parent.is_dir():
        print(f"cievents report: --out {out}: no such folder {out.parent}", file=sys.stderr)
        return 2
    with args.db.open("rb") as fh:
        if fh.read(12)[8:12] != DUCKDB_MAGIC:
            print(f"cievents report: --db {args.db}: not a DuckDB database", file=sys.stderr)
            return 2
    from cievents import clock
    from cievents.metrics.duckdb_store import DuckDBStore
    from cievents.metrics.report import compliance_section, quarter_bounds, render

    store = DuckDBStore(args.db)
    start, end, quarter = quarter_bounds(clock.now_utc())
    section = compliance_section(
        store.query("SELECT * FROM compliance_latest ORDER BY repository, pull_request"),
        store.query(
            "SELECT * FROM noncompliant_merges WHERE merged_at >= ? AND merged_at < ? "
            "ORDER BY target_branch, merged_at",
            [start, end],
        ),
        quarter,
    )
    page = render(
        store.query("SELECT * FROM build_health ORDER BY pipeline, day"),
        store.query("SELECT * FROM dora ORDER BY pipeline"),
        section,
    )
    out.write_text(page, "utf-8")
    print(f"wrote {out}")
    return 0
