"""``cievents report --serve`` as a user starts it: its own process (group), a free port,
the URL read from the line it prints; stopped by pid."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.tools import ROOT

__all__ = ["serving"]


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a report server watching ``db`` (which may not exist yet)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cievents.cli", "report", "--db", str(db), "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            process.kill()
            raise AssertionError(f"no URL printed: {line!r} {process.communicate()[1]}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        process.wait(20)
