"""The ``cievents`` command: the library the functions use, for people and CI.

Subcommands live in their own modules and are imported only when chosen,
so ``cievents scan`` never pays for the demo's dependencies and vice versa.
Each module has ``add_arguments(parser)`` and ``run(args) -> int``.
Exit codes: 0 success, 1 "found something" (findings, failed checks), 2 bad input or error.
Every error is one line on stderr, never a traceback; ``--debug`` (anywhere on the line)
shows the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import NoReturn

COMMANDS: dict[str, tuple[str, str]] = {
    "parse": ("cievents.cli.parse", "print a webhook payload as a normalized event (JSON)"),
    "scan": ("cievents.cli.scan", "scan files or stdin for leaked credentials"),
    "demo": ("cievents.cli.demo", "run every function locally on the bundled example events"),
    "replay": ("cievents.cli.replay", "send recorded webhook bodies to a running ingest"),
    "report": ("cievents.cli.report", "render the build-health views as an HTML page"),
    "check": ("cievents.cli.check", "test every configured integration with a harmless call"),
    "inventory": (
        "cievents.cli.inventory",
        "list every repository of the configured SCMs into the assets table, and print them",
    ),
    "dead-letters": (
        "cievents.cli.deadletters",
        "list dead-lettered messages, or replay them once the cause is fixed",
    ),
}


DESCRIPTION = "The cievents command: the library the functions use, for people and CI."


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that point at the right ``--help``."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def _available() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def one_line(exc: BaseException) -> str:
    """An exception as one line a person can act on (secrets masked)."""
    from cievents.errors import CIEventsError

    if isinstance(exc, CIEventsError):
        text = exc.message
    elif isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        text += " (rerun with --debug for the traceback)"
    from cievents import log

    return log.mask(" ".join(text.split()))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    commands = _available()
    parser = Parser(prog="cievents", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version="cievents 0.1.0")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    chosen = next((a for a in args if not a.startswith("-")), None)
    for name, (module_name, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run, _parser=command_parser)
    parsed, extra = parser.parse_known_args(args)
    if extra:  # reported by the subcommand's parser, with its usage, not the top level's
        getattr(parsed, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
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
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"cievents {chosen}: {one_line(exc)}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
