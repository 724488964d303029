"""The ``cievents`` command: the library the functions use, for people and CI.

Subcommands live in their own modules and are imported only when chosen,
so ``cievents scan`` never pays for the demo's dependencies and vice versa.
Each module has ``add_arguments(parser)`` and ``run(args) -> int``.
Exit codes: 0 success, 1 "found something" (findings, failed checks), 2 bad input or error.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "parse": ("cievents.cli.parse", "print a webhook payload as a normalized event (JSON)"),
    "scan": ("cievents.cli.scan", "scan files or stdin for leaked credentials"),
    "demo": ("cievents.cli.demo", "run every function locally on the bundled example events"),
    "replay": ("cievents.cli.replay", "send recorded webhook bodies to a running ingest"),
    "report": ("cievents.cli.report", "render the build-health views as an HTML page"),
    "check": ("cievents.cli.check", "test every configured integration with a harmless call"),
    "dead-letters": (
        "cievents.cli.deadletters",
        "list dead-lettered messages, or replay them once the cause is fixed",
    ),
}


def _available() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    parser = argparse.ArgumentParser(prog="cievents", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version="cievents 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in args if not a.startswith("-")), None)
    for name, (module_name, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    parsed = parser.parse_args(args)
    run = getattr(parsed, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = run(parsed)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
