"""``cievents check [--function NAME] [--format table|json] [--timeout S]``.

Tests every configured integration with a harmless call and prints a table:
integration, target, result, problem (unreachable, timed_out, tls, unauthorized,
missing_scope, missing_resource or failed), latency, what to fix. Exit 0 when all pass,
1 when any fails, 2 when nothing is configured to check.
"""

from __future__ import annotations

import argparse
import json
import sys

from cievents.checks.base import CheckResult, run_checks
from cievents.checks.registry import configured_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--function", help="only the integrations this function uses")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default) or json: one object per check",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per check (default 10)"
    )


def render_table(results: list[CheckResult]) -> str:
    headers = ["integration", "target", "result", "problem", "latency", "what to fix"]
    rows = [
        [
            r.integration,
            r.target,
            "ok" if r.status == "pass" else "FAIL",
            r.problem or "-",
            f"{r.latency_ms:.0f} ms",
            r.fix if r.status == "fail" else r.detail,
        ]
        for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    failed = [r for r in results if r.status == "fail"]
    for r in failed:
        lines.append(f"\n{r.integration} {r.target}: {r.detail}")
    lines.append(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.function:
        from cievents.deploy import manifest

        known = sorted(f.name for f in manifest.load().functions)
        if args.function not in known:
            print(
                f"cievents check: --function {args.function}: unknown function; "
                f"known: {', '.join(known)}",
                file=sys.stderr,
            )
            return 2
    checks = configured_checks(timeout_s=args.timeout, function=args.function)
    if not checks:
        print(
            "cievents check: no integration is configured in this environment "
            "(see README, Configuration)",
            file=sys.stderr,
        )
        return 2
    results = run_checks(checks, timeout_s=args.timeout + 2)
    if args.format == "json":
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_table(results))
    return 0 if all(r.status == "pass" for r in results) else 1
