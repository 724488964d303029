"""Creates that happen once: the intent is recorded before the call, reconciled after.

A create (a Slack post, a Jira comment, a GitHub check run or status) whose
answer is lost (read timeout, reset after sending, an unreadable 200, a 5xx
after committing) may or may not have happened. Repeating it blind makes two;
dropping it makes none. So:

1. before the call, ``once`` records ``{"intent": marker}`` under the effect's
   state key in the idempotency store (versioned: two executions cannot both
   record it);
2. the call carries the ``marker`` where the vendor keeps it (Slack message
   metadata, a hidden marker in a comment body, a check run's
   ``external_id``) and its result is recorded as ``{"result": ...}``;
3. a redelivery that finds an intent without a result first asks the vendor
   (``find(marker)``) and adopts the write it finds; only when the vendor has
   nothing is the create sent again.

A recorded result is returned as is, without a call. The marker is derived
from the state key, so every delivery of one event carries the same marker.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cievents.errors import TransientError
from cievents.idempotency import Store

__all__ = ["Effect", "marker_for", "once"]

How = Literal["created", "found", "recorded"]
MARKER_PREFIX = "cievents-"


def marker_for(key: str) -> str:
    """The stable, opaque marker of one effect (safe in a URL, a label or a comment)."""
    return MARKER_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Effect:
    """What ``once`` did: the vendor's answer (as recorded) and how it was obtained."""

    result: Mapping[str, Any]
    how: How
    marker: str


def once(
    store: Store,
    key: str,
    create: Callable[[str], Mapping[str, Any]],
    find: Callable[[str, float], Mapping[str, Any] | None],
    *,
    clock: Callable[[], float] = time.time,
) -> Effect:
    """Make the effect ``key`` exactly once.

    ``create(marker)`` performs the write and returns what to keep of its answer;
    ``find(marker, since)`` looks the write up at the vendor (``since``: when the
    first intent was recorded, epoch seconds) and returns the same shape, or None.
    """
    marker = marker_for(key)
    state = store.get_state(key)
    recorded = state.value.get("result")
    if isinstance(recorded, Mapping):
        return Effect(recorded, "recorded", marker)
    since = float(state.value.get("at") or clock())
    if state.value.get("intent"):
        found = find(marker, since)
        if found is not None:
            store.set_state(key, {"intent": marker, "at": since, "result": dict(found)})
            return Effect(found, "found", marker)
    if not store.set_state(key, {"intent": marker, "at": since}, expected_version=state.version):
        raise TransientError(f"another execution is making the write {key!r}", reason="busy")
    result = dict(create(marker))
    store.set_state(key, {"intent": marker, "at": since, "result": result})
    return Effect(result, "created", marker)
