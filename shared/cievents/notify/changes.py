""" "Did the state change since the last finished build on this branch?"

Kept per (pipeline, branch) in the idempotency store's state as a short
history of build number → final state, so the answer depends only on builds
with a lower number: a redelivered or late event gets the same answer it
got the first time, and out-of-order delivery cannot flip it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents.idempotency import Store, update_state

HISTORY = 25


def record_and_compare(store: Store, key: str, number: int, state: str) -> bool:
    """Record ``number → state`` and say whether it differs from the previous build's state.

    With no earlier build known, a pass is not news and anything else is.
    """
    history: dict[str, str] = {}

    def add(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
        builds = {str(k): str(v) for k, v in dict(current.get("builds") or {}).items()}
        history.clear()
        history.update(builds)
        if builds.get(str(number)) == state:
            return None
        builds[str(number)] = state
        newest = sorted(builds, key=int)[-HISTORY:]
        return {"builds": {n: builds[n] for n in newest}}

    update_state(store, key, add)
    earlier = [int(n) for n in history if int(n) < number]
    if not earlier:
        return state != "passed"
    return history[str(max(earlier))] != state
