"""``cievents replay FILE|DIR --url URL``: send recorded webhooks to a running ingest.

Each ``NAME.json`` is posted to ``URL/<source>`` with the headers in
``NAME.headers.json`` (when present), signed as its vendor signs it with the
secret from ``WEBHOOK_SECRET_<SOURCE>`` (or ``--secret``): the same checks a
real delivery passes. Prints one line per request; exit 1 if any was refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cievents.errors import CIEventsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, help="webhook body files or folders of them")
    parser.add_argument("--url", required=True, help="the ingest function's base URL")
    parser.add_argument("--secret", help="sign with this secret instead of WEBHOOK_SECRET_<SOURCE>")
    parser.add_argument("--source", help="the vendor, when it cannot be guessed")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for each answer (default 30)"
    )


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        candidates = sorted(path.glob("*.json")) if path.is_dir() else [path]
        found += [
            p for p in candidates if not p.name.endswith((".headers.json", ".api.json", ".pr.json"))
        ]
    return found


def run(args: argparse.Namespace) -> int:
    import requests

    from cievents.sources import detect_source, lower_headers
    from cievents.webhooks.signing import sign_headers

    refused = 0
    for path in _files(args.paths):
        try:
            body = path.read_bytes()
            headers_file = path.with_name(path.name.removesuffix(".json") + ".headers.json")
            headers = json.loads(headers_file.read_text("utf-8")) if headers_file.exists() else {}
            source = args.source or detect_source(json.loads(body), lower_headers(headers))
        except OSError as exc:
            print(f"cievents replay: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 2
        except (ValueError, CIEventsError) as exc:
            detail = exc.message if isinstance(exc, CIEventsError) else str(exc)
            print(f"cievents replay: {path}: {detail}", file=sys.stderr)
            return 2
        secret = args.secret or os.environ.get(
            "WEBHOOK_SECRET_" + source.upper().replace("-", "_"), ""
        )
        secret = secret.split(",")[0].strip()
        if not secret:
            variable = "WEBHOOK_SECRET_" + source.upper().replace("-", "_")
            print(f"{path}: no secret: set {variable} or --secret", file=sys.stderr)
            return 2
        signed = {
            **headers,
            **sign_headers(source, body, secret, event=headers.get("X-Buildkite-Event")),
        }
        url = f"{args.url.rstrip('/')}/{source}"
        try:
            response = requests.post(url, data=body, headers=signed, timeout=args.timeout)
        except requests.RequestException as exc:
            from cievents.neterrors import describe

            print(f"cievents replay: {path.name}: {describe(exc, url)}", file=sys.stderr)
            return 2
        print(f"{response.status_code} {source:<12} {path.name}")
        refused += response.status_code >= 300
    return 1 if refused else 0
