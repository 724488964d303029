"""``cievents demo [--events DIR] [--times N] [--shuffle] [--out DIR] [--no-history]``: the
bundle, locally."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=Path,
        default=ROOT / "examples" / "events",
        help="webhook bodies NAME.json (+ NAME.headers.json); default: the bundled day",
    )
    parser.add_argument(
        "--times", type=int, default=1, help="deliver every event N times (default 1)"
    )
    parser.add_argument("--shuffle", action="store_true", help="deliver in a random order")
    parser.add_argument("--seed", type=int, help="seed for --shuffle (printed when not given)")
    parser.add_argument(
        "--out", type=Path, default=Path(".demo"), help="output folder (default .demo/)"
    )
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="skip loading the 60 days of example build history into <out>/metrics.duckdb "
        "(the report then shows only this run's builds)",
    )
    parser.add_argument(
        "--no-emulator",
        action="store_true",
        help="use the built-in bus even when the Pub/Sub emulator is installed",
    )


def run(args: argparse.Namespace) -> int:
    import random

    from cievents.demo.runner import Options, render
    from cievents.demo.runner import run as run_demo

    if args.times < 1:
        print("cievents demo: --times must be at least 1", file=sys.stderr)
        return 2
    if not (ROOT / "function.yaml").exists():
        print(
            f"cievents demo: needs the repository checkout ({ROOT / 'function.yaml'})",
            file=sys.stderr,
        )
        return 2
    if not args.events.is_dir():
        print(
            f"cievents demo: --events {args.events}: no such folder "
            f"(e.g. --events {ROOT / 'examples' / 'events'})",
            file=sys.stderr,
        )
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)  # noqa: S311 - ordering, not secrecy
    if args.shuffle:
        print(f"shuffling with --seed {seed}")
    options = Options(
        root=ROOT,
        events=args.events,
        out=args.out,
        times=args.times,
        shuffle=args.shuffle,
        seed=seed,
        use_emulator=False if args.no_emulator else None,
        history=not args.no_history,
    )
    try:
        report = run_demo(options)
    except (RuntimeError, TimeoutError) as exc:
        print(f"cievents demo: {exc}", file=sys.stderr)
        return 1
    print(render(report, args.out))
    return 1 if report.dead_letters else 0
