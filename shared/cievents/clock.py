"""The one place the library reads the wall clock.

Everything that depends on "now" (the stale-message guard, webhook signature
timestamps and replay windows, idempotency leases and TTLs, archive date
partitions, GitHub App tokens, row ingest times) asks this module, so a test
can move time for all of them at once::

    from cievents import clock

    with clock.moved(by=400 * 86400):   # a year ahead, for every caller
        ...
    with clock.moved(to=datetime(2027, 1, 1, tzinfo=UTC)):
        ...

Callers import the module (``from cievents import clock``) and call
``clock.now()`` / ``clock.now_utc()`` at the moment they need the value, so a
moved clock is seen everywhere. Durations and deadlines use ``time.monotonic``
and are not affected. A leaf module: it imports nothing from the library.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

__all__ = ["moved", "now", "now_iso", "now_utc"]

_lock = threading.Lock()
_offset = [0.0]  # seconds added to the real clock; a list so ``moved`` changes it in place


def now() -> float:
    """Seconds since the epoch (what ``time.time()`` returns, unless a test moved it)."""
    return time.time() + _offset[0]


def now_utc() -> datetime:
    """The current time as an aware UTC ``datetime``."""
    return datetime.fromtimestamp(now(), UTC)


def now_iso() -> str:
    """The current time as RFC 3339 UTC with a ``Z`` suffix (microseconds kept)."""
    return now_utc().isoformat().replace("+00:00", "Z")


@contextmanager
def moved(*, to: datetime | float | None = None, by: float = 0.0) -> Iterator[None]:
    """Within the block, ``now()`` is ``to`` (an aware datetime or epoch seconds) plus the
    time elapsed since entering, or the current time shifted ``by`` seconds. Time keeps
    running either way, so leases and TTLs still expire. Blocks nest."""
    if isinstance(to, datetime) and to.tzinfo is None:
        raise ValueError("clock.moved(to=...) needs an aware datetime (tzinfo=UTC)")
    target = to.timestamp() if isinstance(to, datetime) else to
    shift = by + (0.0 if target is None else target - now())
    with _lock:
        _offset[0] += shift
    try:
        yield
    finally:
        with _lock:
            _offset[0] -= shift
