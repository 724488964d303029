"""``cievents inventory [--scm …] [--format table|json]``: the repository inventory from a
laptop, with the same sync the ``repo_inventory`` function runs.

It lists every SCM with credentials in the environment (the settings of ``cievents.scm``
and ``INVENTORY_*``, see the README) against the real APIs, or against local fakes when
the ``*_API_URL`` settings point at them; writes the ``assets`` table of the local metrics
database (``--db``, default ``.cievents/metrics.duckdb``); and prints the repositories
that the filter flags keep. A progress bar on stderr follows long listings (owners done of
all, repositories so far), when stderr is a terminal or with ``--progress``.

Exit status: 0 listed; 2 bad input, no credentials, or a listing that could not finish (the
repositories it could list are printed and kept; the next run resumes).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO, cast

from cievents import log
from cievents.inventory.model import SCMS, VISIBILITIES, Repo

STATUSES = ("active", "archived", "disabled", "empty", "deleted")


def _choices(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"{', '.join(bad) or text!r}: expected a comma-separated list of "
                f"{', '.join(allowed)}"
            )
        return names

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scm",
        type=_choices(SCMS),
        default=(),
        help="only these SCMs (comma-separated: github,gitlab,bitbucket,azure; "
        "default every SCM with credentials)",
    )
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default) or JSON with the sync's report",
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "full", "incremental"),
        default="full",
        help="full (default): list everything, mark what is gone; incremental: only what "
        "changed since the last sync; auto: as the schedule does",
    )
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="print the stored inventory without listing the SCMs",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="the local metrics database holding the assets table "
        "(default METRICS_DUCKDB_PATH or .cievents/metrics.duckdb)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the progress bar on stderr (default: when stderr is a terminal)",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="also audit each repository listed, as repo_inventory does (posture, committed "
        "code, Azure service connections); findings go to CIEVENTS_FINDINGS_PUBLISH_TO or "
        "CIEVENTS_FINDINGS_TOPIC when set, else to .cievents/findings.jsonl, and are printed",
    )
    parser.add_argument("--verbose", action="store_true", help="every log line (JSON) on stderr")
    filters = parser.add_argument_group("filters (all must hold; commas are alternatives)")
    filters.add_argument(
        "--status",
        type=_choices(STATUSES),
        default=(),
        help="active, archived, disabled, empty or deleted (comma-separated)",
    )
    filters.add_argument(
        "--visibility",
        type=_choices(VISIBILITIES),
        default=(),
        help="public, private or internal (comma-separated)",
    )
    filters.add_argument(
        "--branch", type=_choices_any, default=(), help="default branch globs (comma-separated)"
    )
    filters.add_argument(
        "--language", type=_choices_any, default=(), help="languages, any case (comma-separated)"
    )
    filters.add_argument(
        "--name", type=_choices_any, default=(), help="full-name globs (comma-separated)"
    )
    filters.add_argument("--stale-days", type=_count, help="no push in this many days")
    filters.add_argument("--pushed-within-days", type=_count, help="a push within this many days")
    filters.add_argument("--min-size-kb", type=_count, help="at least this many KiB")
    filters.add_argument("--max-size-kb", type=_count, help="at most this many KiB")


def _choices_any(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0 or more")
    return value


class _Warnings(io.TextIOBase):
    """The library's JSON log lines, for a person: warnings and errors as one line each on
    stderr (``--verbose``: every line as it is); the rest dropped."""

    def __init__(self, stream: TextIO, verbose: bool, before: Any = None) -> None:
        self.out = stream
        self.verbose = verbose
        self.before = before

    def write(self, text: str) -> int:
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if self.verbose:
                self._emit(line)
            elif record.get("severity") in ("WARNING", "ERROR", "CRITICAL"):
                self._emit(
                    f"cievents inventory: {record['severity'].lower()}: {record.get('message')}"
                )
        return len(text)

    def _emit(self, line: str) -> None:
        if self.before is not None:
            self.before()
        self.out.write(line + "\n")
        self.out.flush()


class ProgressBar:
    """One line per SCM on ``stream``, redrawn in place: ``github  [#####.....] 3/8 owners,
    540 repositories``."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.state: dict[str, tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, scm: str, done: int, total: int, repos: int) -> None:
        with self._lock:
            self.state[scm] = (done, total, repos)
            parts = []
            for name, (d, t, r) in sorted(self.state.items()):
                filled = self.WIDTH * d // t if t else self.WIDTH
                bar = "#" * filled + "." * (self.WIDTH - filled)
                parts.append(f"{name} [{bar}] {d}/{t} owners, {r} repositories")
            self.stream.write("\r" + "  ".join(parts) + "\033[K")
            self.stream.flush()

    def clear(self) -> None:
        """Make room for a message line; the next update redraws the bar."""
        if self.state:
            self.stream.write("\r\033[K")

    def close(self) -> None:
        if self.state:
            self.stream.write("\n")
            self.stream.flush()


def table(repos: list[Repo]) -> str:
    header = (
        "SCM",
        "REPOSITORY",
        "STATUS",
        "VISIBILITY",
        "BRANCH",
        "LAST PUSH",
        "LANGUAGES",
        "SIZE KB",
    )
    rows = [
        (
            r.scm,
            r.full_name,
            r.status,
            r.visibility,
            r.default_branch or "-",
            r.last_push.strftime("%Y-%m-%d") if r.last_push else "-",
            ",".join(r.languages) or "-",
            str(r.size_kb) if r.size_kb is not None else "-",
        )
        for r in repos
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    return "\n".join(lines)


def _audit() -> Any:
    """The audit repo_inventory runs, publishing where the settings say (a file by default)."""
    from cievents.config import CommonSettings, env_opt
    from cievents.findings_report import FindingsReporter
    from cievents.idempotency import open_store
    from cievents.inventory.audit import AuditSettings, RepoAudit

    reporter = FindingsReporter.from_env(CommonSettings.from_env())
    if not (env_opt("CIEVENTS_FINDINGS_PUBLISH_TO") or env_opt("CIEVENTS_FINDINGS_TOPIC")):
        reporter = replace(reporter, target=f"file:{Path('.cievents') / 'findings.jsonl'}")
    return RepoAudit(open_store(), reporter, AuditSettings.from_env())


def _finding_row(message: Any) -> dict[str, Any]:
    return {
        "rule_id": message.rule_id,
        "severity": message.severity,
        "where": message.location.get("path"),
        "repository": message.repository,
        "detail": message.preview,
        "line": message.location.get("line"),
        "resolved": message.resolved,
        "fingerprint": message.fingerprint,
    }


def findings_table(messages: list[Any]) -> str:
    """What the audit published this run: new findings, and those now fixed."""
    rows = [
        (
            "fixed" if m.resolved else m.severity,
            m.rule_id,
            str(m.repository or m.location.get("path") or "-")
            + (f" {m.location['path']}:{m.location['line']}" if m.location.get("line") else ""),
            m.preview,
        )
        for m in messages
    ]
    header = ("SEVERITY", "RULE", "WHERE", "DETAIL")
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    )


def run(args: argparse.Namespace) -> int:
    from cievents.inventory.assets import AssetStore
    from cievents.inventory.filters import RepoFilter
    from cievents.metrics.duckdb_store import DuckDBStore

    selected = RepoFilter(
        status=args.status,
        visibility=args.visibility,
        branch=args.branch,
        language=args.language,
        name=args.name,
        stale_days=args.stale_days,
        pushed_within_days=args.pushed_within_days,
        min_size_kb=args.min_size_kb,
        max_size_kb=args.max_size_kb,
    )
    db = args.db or Path(os.environ.get("METRICS_DUCKDB_PATH") or ".cievents/metrics.duckdb")
    store = DuckDBStore(db)
    report = None
    counts = None
    if not args.no_sync:
        from cievents.inventory.runner import build_sync

        show = args.progress if args.progress is not None else sys.stderr.isatty()
        bar = ProgressBar(sys.stderr) if show else None
        warnings = _Warnings(sys.stderr, args.verbose, bar.clear if bar is not None else None)
        log.logger.set_stream(cast(TextIO, warnings))
        audit = _audit() if args.audit else None
        sync = build_sync(
            only=args.scm,
            metrics=store,
            progress=bar,
            hooks=[audit] if audit else (),
            state=audit.store if audit else None,
        )
        if not sync.listers:
            print(
                "cievents inventory: no SCM credentials: set GITHUB_TOKEN (or a GitHub App), "
                "GITLAB_TOKEN, BITBUCKET_TOKEN or AZURE_DEVOPS_PAT (see `cievents inventory "
                "--help`), or use --no-sync",
                file=sys.stderr,
            )
            return 2
        try:
            counts = audit.begin() if audit else None
            report = sync.run(args.mode)
            if audit is not None:
                audit.audit_connections()
        finally:
            if bar is not None:
                bar.close()
            log.logger.set_stream(None)
    assets = AssetStore(store)
    repos = [r for scm in (args.scm or (None,)) for r in assets.all(scm) if selected.matches(r)]
    if args.format == "json":
        out: dict[str, Any] = {"repositories": [r.to_row() for r in repos]}
        if report is not None:
            out["sync"] = report.to_dict()
        if counts is not None:
            out["audit"] = {
                **counts.to_dict(),
                "findings": [_finding_row(m) for m in counts.messages],
            }
        print(json.dumps(out, indent=2))
    else:
        print(table(repos))
        if counts is not None and counts.messages:
            print("\n" + findings_table(counts.messages))
        if report is not None:
            print(f"\n{len(repos)} shown; {report.summary()}", file=sys.stderr)
        if counts is not None:
            print(f"audit: {counts.summary()}", file=sys.stderr)
    if report is not None and report.failed:
        for scm in report.scms:
            for error in scm.errors:
                print(f"cievents inventory: {scm.scm}: {error}", file=sys.stderr)
        return 2
    return 0
