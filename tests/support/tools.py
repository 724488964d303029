"""Tools the tests need but do not install: the Makefile does (``make test-tools``), before
pytest starts. A missing tool skips its test with a reason locally and fails it in CI
(``CI=true``), where every tool must be there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]


def missing(reason: str) -> NoReturn:
    """Skip (locally) or fail (in CI) a test whose tool is not installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must install it before pytest starts")
    pytest.skip(reason)


def venv_tool(venv: str, name: str) -> Path:
    """``ROOT/<venv>/bin/<name>`` as ``make test-tools`` installs it, or skip/fail."""
    path = ROOT / venv / "bin" / name
    if not path.exists():
        missing(f"{name} is not installed in {venv}/ (run `make test-tools`)")
    return path
