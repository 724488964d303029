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
    parser.add_argument("--out", type=Path, default=Path("build-health.html"))


def run(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"cievents report: no metrics database at {args.db}", file=sys.stderr)
        return 2
    from datetime import UTC, datetime

    from cievents.metrics.duckdb_store import DuckDBStore
    from cievents.metrics.report import compliance_section, quarter_bounds, render

    store = DuckDBStore(args.db)
    start, end, quarter = quarter_bounds(datetime.now(UTC))
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
    args.out.write_text(page, "utf-8")
    print(f"wrote {args.out}")
    return 0
