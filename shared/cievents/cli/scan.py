"""``cievents scan PATH... [--format json|sarif|text] [--no-redact] [--baseline FILE]``,
and ``cievents scan --ci buildkite|github|gitlab|azure|bitbucket URL`` (a CI job's or run's
logs, see :mod:`cievents.cilogs.cli`).

Scans files (folders recursively, ``-`` for stdin) for leaked credentials.
Every file is scanned, whatever its size (streamed in windows, bounded memory) or
content; inside a folder, the directories in ``SKIP_DIRS`` are not entered.
Exit 1 when there are findings, 0 when none, 2 on error or when any file could not
be scanned (each one is named in a warning on stderr: an incomplete scan is
never reported as a clean one). ``--baseline``
takes an earlier JSON report (or a list of fingerprints): what it lists is
not reported again. ``--allowlist`` takes a file of fingerprints to ignore,
one per line. A line containing ``cievents:allow`` is never reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", "dist"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="files or folders; - reads stdin")
    parser.add_argument(
        "--ci",
        choices=("buildkite", "github", "gitlab", "azure", "bitbucket"),
        help="scan the job or run logs of this CI at the URL given instead of files "
        "(a build, run, pipeline or job URL copied from the browser)",
    )
    parser.add_argument(
        "--format",
        choices=("json", "sarif", "text"),
        default="text",
        help="text: one line per finding (default); json: one object per finding; "
        "sarif: SARIF 2.1.0 for code-scanning tools",
    )
    parser.add_argument("--no-redact", action="store_true", help="print the secrets themselves")
    parser.add_argument(
        "--baseline", type=Path, help="earlier JSON report: its findings are ignored"
    )
    parser.add_argument(
        "--allowlist", type=Path, help="file of fingerprints to ignore, one per line"
    )
    parser.add_argument(
        "--engine", choices=("hyperscan", "aho-corasick"), help="default: the fastest installed"
    )


def _fingerprints(path: Path) -> set[str]:
    text = path.read_text("utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        return {
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        }
    if isinstance(data, list):
        return {d["fingerprint"] if isinstance(d, dict) else str(d) for d in data}
    return set()


def _files(paths: list[str], warn: Callable[[str], None]) -> Iterator[Path | None]:
    """Every file to scan (None for stdin); a path that does not exist is a warning."""
    for raw in paths:
        if raw == "-":
            yield None
            continue
        path = Path(raw)
        if path.is_dir():
            # os.walk reports a folder it cannot list (rglob would skip it silently)
            walk = os.walk(path, onerror=lambda exc: warn(f"{exc.filename}: {exc.strerror}"))
            for folder, dirs, names in walk:
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for name in sorted(names):
                    file = Path(folder) / name
                    if file.is_file():
                        yield file
        elif path.exists():
            yield path
        else:
            warn(f"{raw}: no such file or directory")


def run(args: argparse.Namespace) -> int:
    if args.ci:
        from cievents.cilogs.cli import run_ci

        return run_ci(args)
    from cievents.scanning import Scanner
    from cievents.scanning.sarif import to_sarif

    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        print(f"cievents scan: warning: {message} (not scanned)", file=sys.stderr)

    try:
        ignored: set[str] = set()
        if args.baseline:
            ignored |= _fingerprints(args.baseline)
        if args.allowlist:
            ignored |= _fingerprints(args.allowlist)
        scanner = Scanner(engine=args.engine, allowed_fingerprints=ignored)
    except OSError as exc:
        which = "--baseline" if exc.filename == str(args.baseline) else "--allowlist"
        print(f"cievents scan: {which} {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, RuntimeError) as exc:
        print(f"cievents scan: {exc}", file=sys.stderr)
        return 2
    findings = []
    scanned = 0
    for file in _files(args.paths, warn):
        name = "-" if file is None else str(file)
        try:
            if file is None:
                found = scanner.scan_stream(sys.stdin.buffer, name, redacted=not args.no_redact)
            else:
                with file.open("rb") as stream:  # streamed: any size, bounded memory
                    found = scanner.scan_stream(stream, name, redacted=not args.no_redact)
        except OSError as exc:
            warn(f"{name}: {exc.strerror or exc}")
            continue
        scanned += 1
        findings += found
    if args.format == "json":
        # one finding per line: json's C encoder (an indent would force the Python one,
        # slower than the scan itself on a log with thousands of findings)
        rows = ",\n  ".join(json.dumps(f.to_dict()) for f in findings)
        sys.stdout.write(f"[\n  {rows}\n]\n" if findings else "[]\n")
    elif args.format == "sarif":
        sys.stdout.write(json.dumps(to_sarif(findings), indent=2) + "\n")
    else:
        for f in findings:
            print(
                f"{f.path}:{f.line}:{f.start_column}: {f.rule_id} "
                f"(severity {f.severity}, confidence {f.confidence}) {f.secret} "
                f"fingerprint {f.fingerprint[:16]}"
            )
    skipped = f", {len(warnings)} not scanned (see warnings)" if warnings else ""
    print(f"{len(findings)} finding(s) in {scanned} file(s){skipped}", file=sys.stderr)
    if warnings:
        return 2  # an incomplete scan is never a clean one
    return 1 if findings else 0
