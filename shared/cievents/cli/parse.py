"""``cievents parse FILE [--source S] [--event E] [--headers HEADERS.json]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cievents.errors import CIEventsError
from cievents.sources import SOURCES, parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="webhook body (JSON); - reads stdin")
    parser.add_argument("--source", choices=SOURCES, help="vendor (guessed when not given)")
    parser.add_argument("--event", help="the vendor's event name (guessed when not given)")
    parser.add_argument("--headers", help="JSON object of the webhook's HTTP headers")


def _fail(message: str) -> int:
    print(f"cievents parse: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror}")
    headers: dict[str, str] = {}
    if args.headers:
        try:
            loaded = json.loads(Path(args.headers).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            return _fail(f"cannot read headers {args.headers}: {exc}")
        if not isinstance(loaded, dict):
            return _fail(f"headers {args.headers}: expected a JSON object")
        headers = {str(k): str(v) for k, v in loaded.items()}
    try:
        event = parse(body, source=args.source, event=args.event, headers=headers)
    except CIEventsError as exc:
        return _fail(f"{args.file}: {exc.message}")
    json.dump(event.to_dict(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0
