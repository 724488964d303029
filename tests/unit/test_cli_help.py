"""Every option of every ``cievents`` command has a help text, in plain words (no RST)."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys

import pytest

from cievents.cli import COMMANDS, DESCRIPTION

RST = re.compile(r"``|:(class|func|mod|meth|attr|data|ref):|`[^`]+`_")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_plain_help(command: str) -> None:
    parser = argparse.ArgumentParser(prog=f"cievents {command}")
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"cievents {command} {name}: no help"
        assert not RST.search(action.help), f"cievents {command} {name}: {action.help!r}"


@pytest.mark.parametrize("command", ["", *sorted(COMMANDS)])
def test_help_output_shows_no_markup(command: str) -> None:
    args = [command, "--help"] if command else ["--help"]
    out = subprocess.run(
        [sys.executable, "-m", "cievents.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert not RST.search(out.stdout), out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    if not command:
        assert DESCRIPTION in " ".join(out.stdout.split())
