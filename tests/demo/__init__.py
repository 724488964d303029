"""The demo's tests; ``example_events`` copies chosen example events (with their sidecars)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "events"


def example_events(folder: Path, patterns: Iterable[str]) -> Path:
    """``folder`` holding every example file matching one of ``patterns`` (globs)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in patterns:
        for path in EXAMPLES.glob(pattern):
            shutil.copy(path, folder / path.name)
    return folder
