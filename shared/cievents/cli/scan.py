"""``cievents scan PATH... [--format json|sarif|text] [--no-redact] [--baseline FILE]``,
and ``cievents scan --ci buildkite|github|gitlab|azure|bitbucket URL`` (a CI job's or run's
logs, see :mod:`cievents.cilogs.cli`).

Scans files (folders recursively, ``-`` for stdin) for leaked credentials.
Exit 1 when there are findings, 0 when none, 2 on error. ``--baseline``
takes an earlier JSON report (or a list of fingerprints): what it lists is
not reported again. ``--allowlist`` takes a file of fingerprints to ignore,
one per line. A line containing ``cievents:allow`` is never reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", "dist"}
MAX_FILE_BYTES = 50 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="files or folders; - reads stdin")
    parser.add_argument(
        "--ci",
        choices=("buildkite", "github", "gitlab", "azure", "bitbucket"),
        help="scan the job or run logs of this CI at the URL given instead of files "
        "(cievents.cilogs.cli)",
    )
    parser.add_argument("--format", choices=("json", "sarif", "text"), default="text")
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


def _inputs(paths: list[str]) -> list[tuple[str, bytes]]:
    inputs = []
    for raw in paths:
        if raw == "-":
            inputs.append(("-", sys.stdin.buffer.read()))
            continue
        path = Path(raw)
        files = (
            [p for p in sorted(path.rglob("*")) if p.is_file() and not SKIP_DIRS & set(p.parts)]
            if path.is_dir()
            else [path]
        )
        for file in files:
            if file.stat().st_size > MAX_FILE_BYTES:
                continue
            data = file.read_bytes()
            if b"\0" in data[:8192]:
                continue  # binary
            inputs.append((str(file), data))
    return inputs


def run(args: argparse.Namespace) -> int:
    if args.ci:
        from cievents.cilogs.cli import run_ci

        return run_ci(args)
    from cievents.scanning import Scanner
    from cievents.scanning.sarif import to_sarif

    try:
        ignored: set[str] = set()
        if args.baseline:
            ignored |= _fingerprints(args.baseline)
        if args.allowlist:
            ignored |= _fingerprints(args.allowlist)
        scanner = Scanner(engine=args.engine, allowed_fingerprints=ignored)
        inputs = _inputs(args.paths)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"cievents scan: {exc}", file=sys.stderr)
        return 2
    findings = [
        f
        for name, data in inputs
        for f in scanner.scan_bytes(data, name, redacted=not args.no_redact)
    ]
    if args.format == "json":
        sys.stdout.write(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")
    elif args.format == "sarif":
        sys.stdout.write(json.dumps(to_sarif(findings), indent=2) + "\n")
    else:
        for f in findings:
            print(
                f"{f.path}:{f.line}:{f.start_column}: {f.rule_id} ({f.confidence}) {f.secret} "
                f"fingerprint {f.fingerprint[:16]}"
            )
        print(f"{len(findings)} finding(s) in {len(inputs)} file(s)", file=sys.stderr)
    return 1 if findings else 0
