"""``cievents report [--db PATH] [--out FILE] [--days N] [--serve [--port N]]``: build health,
DORA and the compliance section (open PRs by verdict, last quarter's non-compliant merges)
as one self-contained HTML page; ``--serve`` serves it on 127.0.0.1 and redraws it whenever
the database changes (the page reloads itself)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file
DEFAULT_PORT = 8765


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
    parser.add_argument(
        "--days",
        type=int,
        default=60,
        help="how many days the page shows, ending today (default 60)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve the page on http://127.0.0.1:PORT/ and redraw it when the database "
        "changes (the open page reloads itself); Ctrl-C stops",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the port --serve listens on, on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a "
        "free one)",
    )


def _problem(db: Path, out: Path, must_exist: bool) -> str | None:
    """The one-line reason the database or the output cannot be used, if any."""
    if not db.exists() and must_exist:
        return f"no metrics database at {db} (make demo writes .demo/metrics.duckdb)"
    if not out.parent.is_dir():
        return f"--out {out}: no such folder {out.parent}"
    if not db.exists():
        return None
    with db.open("rb") as fh:
        if fh.read(12)[8:12] != DUCKDB_MAGIC:
            return f"--db {db}: not a DuckDB database"
    return None


def run(args: argparse.Namespace) -> int:
    db: Path = args.db
    out: Path = args.out or db.parent / "build-health.html"
    if args.days < 1:
        print("cievents report: --days must be at least 1 (e.g. --days 60)", file=sys.stderr)
        return 2
    if args.serve and not 0 <= args.port <= 65535:
        print(
            f"cievents report: --port {args.port}: not a port (e.g. --port 8765)", file=sys.stderr
        )
        return 2
    if args.serve and not out.parent.is_dir() and out.parent == db.parent:
        out.parent.mkdir(parents=True, exist_ok=True)  # the demo's folder, not made yet
    problem = _problem(db, out, must_exist=not args.serve)
    if problem:
        print(f"cievents report: {problem}", file=sys.stderr)
        return 2
    if not args.serve:
        from cievents.metrics.report import page

        out.write_text(page(db, args.days), "utf-8")
        print(f"wrote {out}")
        return 0
    return _serve(db, out, args.days, args.port)


def _serve(db: Path, out: Path, days: int, port: int) -> int:
    from cievents.metrics.live import LiveReport, serve
    from cievents.metrics.report import page

    live = LiveReport(db, out, lambda first: page(db, days, read_only=not first))
    try:
        server, stop = serve(live, port)
    except OSError as exc:
        print(
            f"cievents report: --port {port}: {exc.strerror or exc} on 127.0.0.1 "
            f"(choose another, e.g. --port {port + 1 if port else DEFAULT_PORT})",
            file=sys.stderr,
        )
        return 2
    print(
        f"serving http://127.0.0.1:{server.server_address[1]}/ (redrawn when {db} changes; "
        f"also written to {out}); Ctrl-C stops",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
