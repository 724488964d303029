""" "Did the state change since the last finished build on this branch?"

Kept per (pipeline, branch) in the idempotency store's state as a short
history of build number → final state, so the answer depends only on builds
with a lower number (the events' own order), never on arrival: a redelivered
or late event gets the answer the full history gives it.

A late build can change the answer of the build after it: #4813 passed arrives
first (no earlier build known: a pass is not news), then #4812 failed arrives,
and #4813 is now a recovery. ``record`` says so (a ``Revision`` of #4813), with
what the function kept of #4813 when it was recorded (``held``: enough to
announce it without its event), and keeps, per build, the answer the function
has acted on (``decided``); ``settle`` records that a revision was acted on.
Until it is, every delivery that records a build returns the pending
revision again, so a crash between recording and acting loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cievents import routing
from cievents.idempotency import Store, update_state

__all__ = ["HISTORY", "Revision", "Verdict", "record", "record_and_compare", "settle"]

HISTORY = 25


@dataclass(frozen=True)
class Revision:
    """A later build whose answer changed since it was acted on."""

    number: int
    state: str
    changed: bool  # its answer now
    held: Mapping[str, Any] = field(default_factory=dict)

    def query(self, pipeline: str, branch: str) -> routing.Query:
        """The routing question for the held build, with its answer as it stands now."""
        return routing.Query(
            str(self.held["source"]),
            str(self.held["event"]),
            pipeline,
            branch,
            self.state,
            self.changed,
        )


@dataclass(frozen=True)
class Verdict:
    changed: bool
    revisions: tuple[Revision, ...] = ()


def _answer(builds: Mapping[str, str], number: int) -> bool:
    """Whether build ``number``'s state differs from the nearest earlier build's.

    With no earlier build known, a pass is not news and anything else is."""
    state = builds[str(number)]
    earlier = [int(n) for n in builds if int(n) < number]
    if not earlier:
        return state != "passed"
    return builds[str(max(earlier))] != state


def record(
    store: Store, key: str, number: int, state: str, held: Mapping[str, Any] | None = None
) -> Verdict:
    """Record ``number → state`` (with ``held``, what acting on it later needs) and answer
    for it, with the revisions of later builds still to act on."""
    seen: dict[str, Any] = {}

    def add(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
        builds = {str(k): str(v) for k, v in dict(current.get("builds") or {}).items()}
        decided = {str(k): bool(v) for k, v in dict(current.get("decided") or {}).items()}
        kept = {str(k): dict(v) for k, v in dict(current.get("held") or {}).items()}
        if builds.get(str(number)) == state and str(number) in decided:
            seen.update(builds=builds, decided=decided, held=kept)
            return None
        builds[str(number)] = state
        decided[str(number)] = _answer(builds, number)
        if held is not None:
            kept[str(number)] = dict(held)
        newest = sorted(builds, key=int)[-HISTORY:]
        new = {
            "builds": {n: builds[n] for n in newest},
            "decided": {n: decided[n] for n in newest if n in decided},
            "held": {n: kept[n] for n in newest if n in kept},
        }
        seen.update(new)
        return new

    update_state(store, key, add)
    builds: dict[str, str] = seen["builds"]
    if str(number) not in builds:  # older than the whole history: nothing to compare with
        return Verdict(state != "passed")
    later = sorted(int(n) for n in builds if int(n) > number)
    revisions = []
    if later:
        after = later[0]
        now = _answer(builds, after)
        if str(after) in seen["decided"] and seen["decided"][str(after)] != now:
            revisions.append(
                Revision(after, builds[str(after)], now, seen["held"].get(str(after)) or {})
            )
    return Verdict(_answer(builds, number), tuple(revisions))


def settle(store: Store, key: str, revision: Revision) -> None:
    """Record that the function acted on ``revision``."""

    def done(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
        decided = dict(current.get("decided") or {})
        if str(revision.number) not in decided or decided[str(revision.number)] == revision.changed:
            return None
        decided[str(revision.number)] = revision.changed
        return {**current, "decided": decided}

    update_state(store, key, done)


def record_and_compare(store: Store, key: str, number: int, state: str) -> bool:
    """Record ``number → state`` and say whether it differs from the previous build's state."""
    return record(store, key, number, state).changed
