"""Shared fixtures: vendor fixtures on disk, the local emulators, a captured log."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cievents import log
from tests.support import emulators

FIXTURES = Path(__file__).parent / "fixtures"
VENDOR = FIXTURES / "vendor"
OWN = FIXTURES / "own"


def vendor_fixtures(source: str | None = None) -> list[Path]:
    base = VENDOR / source if source else VENDOR
    return sorted(p for p in base.rglob("*.json"))


JAVA_EMULATORS = frozenset({"pubsub_emulator", "firestore_emulator"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a Java emulator (``-m "not java_emulator"`` leaves them out:
    ``make test-calendar`` moves only the Python clock, and the emulators keep the real one)."""
    for item in items:
        if JAVA_EMULATORS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.java_emulator)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test depends on the developer's environment or writes into the repo."""
    for name in list(os.environ):
        if name.startswith(
            (
                "CIEVENTS_",
                "WEBHOOK_SECRET_",
                "SLACK_",
                "GITHUB_",
                "JIRA_",
                "TEAMS_",
                "BUILDKITE_",
                "AZURE_DEVOPS_",
                "GITLAB_",
                "BITBUCKET_",
                "SCM_",
                "AUDIT_",
                "INVENTORY_",
            )
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIEVENTS_STORE", "memory:")
    monkeypatch.setenv("CIEVENTS_OUTBOX", str(tmp_path / "outbox"))


class CapturedLog:
    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines() if line]

    def outcomes(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if "outcome" in line]

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


@pytest.fixture
def captured_log() -> Iterator[CapturedLog]:
    captured = CapturedLog()
    log.logger.set_stream(captured.buffer)
    try:
        yield captured
    finally:
        log.logger.set_stream(None)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[emulators.RunningServer]:
    with emulators.pubsub_emulator() as server:
        yield server


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[emulators.RunningServer]:
    with emulators.firestore_emulator() as server:
        yield server


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[emulators.RunningServer]:
    with emulators.gcs_emulator() as server:
        yield server


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Where the page tests left their screenshots (kept as test artifacts, git-ignored)."""
    from tests.support import browser

    shots = browser.written()
    if shots:
        terminalreporter.write_line(f"screenshots: {len(shots)} PNG in {browser.SCREENSHOTS}/")
