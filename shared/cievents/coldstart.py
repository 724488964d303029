"""No garbage collection between an instance's start and its first answer.

A cold start allocates the SDKs' and the library's objects by the hundred thousand,
nearly all of them kept for the instance's life; the collector, triggered by the
allocation count, walks them again and again (about 15 young and one full collection
on slack_notify's way to its first answer, 20-100 ms of a 0.5 s start on this machine).
So a served function (``K_SERVICE`` set, as Cloud Run sets it) holds collection off from
its first ``import cievents`` until its first answer: then everything alive is frozen
out of the generations (``gc.freeze``, so later collections do not walk it either) and
collection resumes. Reference counting frees what is not in a cycle meanwhile; a start
that never answers resumes after ``HOLD_LIMIT_S`` all the same.
"""

from __future__ import annotations

import gc
import os
import threading

__all__ = ["HOLD_LIMIT_S", "held", "hold", "release"]

HOLD_LIMIT_S = 30.0
_lock = threading.Lock()
_held = False


def hold() -> None:
    """Stop collection until ``release`` (or ``HOLD_LIMIT_S``), if this is a served instance."""
    global _held  # noqa: PLW0603 - one hold per process
    if not os.environ.get("K_SERVICE") or not gc.isenabled():
        return
    with _lock:
        if _held:
            return
        gc.disable()
        _held = True
    timer = threading.Timer(HOLD_LIMIT_S, release)
    timer.daemon = True
    timer.start()


def held() -> bool:
    return _held


def release() -> None:
    """Freeze what the start built and collect again (once; later calls do nothing)."""
    global _held  # noqa: PLW0603 - one hold per process
    if not _held:  # every answer calls this: the common case takes no lock
        return
    with _lock:
        if not _held:
            return
        _held = False
        gc.freeze()
        gc.enable()
