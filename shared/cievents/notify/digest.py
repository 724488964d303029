"""Coalescing: when a channel cannot take every build's message in time, one digest for many.

A channel takes about one post a second. When its budget is booked further
ahead than ``digest_after_s`` (the queue holds more than it can take in that
window), a new build's message is not queued behind the others: the build is
added to the channel's pending digest (store state, so every instance sees it),
and one instance posts one message for all of them::

    37 builds failed on main in the last 1 min
    • <url|web-app #812> Fix checkout rounding …
    …

with the details (branch, commit author, message, duration per build) in its
thread. Builds people are watching keep their own message (the caller decides).

No build is lost or shown twice, across instances:

* ``add`` records the build in the channel's pending set (idempotent, keyed by
  build) before anything else; a build already shown by a digest is not added.
* ``flush`` runs under the channel's digest lock. The holder posts digests until
  the pending set is empty, then releases the lock and looks again: whoever added
  a build and found the lock held did so *before* the holder's last look, so the
  holder (or the next one) takes it. A holder that dies leaves its own message
  unacknowledged; its redelivery takes the lock over when the lease ends.
* A digest is posted once: its batch (an id and the builds in it) is recorded
  before the post, the post carries the batch's marker in its metadata and goes
  through ``cievents.effects.once``, so a redelivery after a crash or a lost answer
  finds the message (``conversations.history``) instead of posting it again. Its
  builds leave the pending set in the same write that records them ``shown``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cievents import clock, effects
from cievents.errors import TransientError
from cievents.idempotency import Store, get_states, update_state
from cievents.idempotency.base import new_token
from cievents.notify.blocks import escape
from cievents.notify.render import BuildSummary, duration_text
from cievents.notify.slack import SlackClient

__all__ = ["Digests", "digest_blocks", "headline"]

SECTION_CHARS = 2900  # Slack: a section's text is at most 3,000 characters
MAX_SECTIONS = 45  # Slack: at most 50 blocks per message
MAX_PER_DIGEST = 100
SHOWN_KEPT = 5000


@dataclass(frozen=True)
class Entry:
    """One build waiting for (or shown in) a digest."""

    key: str
    at: float
    summary: BuildSummary

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "at": self.at, "summary": asdict(self.summary)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        return cls(str(data["key"]), float(data["at"]), BuildSummary(**data["summary"]))


def _link(summary: BuildSummary) -> str:
    title = escape(summary.title)
    return f"<{summary.url}|{title}>" if summary.url else title


def headline(entries: Sequence[Entry], now: float) -> str:
    """'37 builds failed on main in the last 1 min' (branches named when they differ)."""
    count = len(entries)
    states = {e.summary.state for e in entries}
    verb = "failed" if states <= {"failed", "failing"} else "finished"
    branches: dict[str, int] = {}
    for e in entries:
        branches[e.summary.branch] = branches.get(e.summary.branch, 0) + 1
    span = max(1.0, now - min(e.at for e in entries))
    window = duration_text(span) if span >= 60 else "minute"
    noun = "build" if count == 1 else "builds"
    if len(branches) == 1:
        return f"{count} {noun} {verb} on {next(iter(branches))} in the last {window}"
    by_branch = ", ".join(f"{b}: {n}" for b, n in sorted(branches.items(), key=lambda x: -x[1]))
    return f"{count} {noun} {verb} in the last {window} ({by_branch})"


def _sections(lines: Sequence[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    chunk = ""
    for line in lines:
        if chunk and len(chunk) + len(line) + 1 > SECTION_CHARS:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line[:SECTION_CHARS]
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return blocks


def digest_blocks(entries: Sequence[Entry], now: float) -> tuple[str, list[dict[str, Any]]]:
    """The digest message: headline, then every build linked (one line each)."""
    text = headline(entries, now)
    lines = [f"{e.summary.emoji} {_link(e.summary)} {escape(e.summary.message)}" for e in entries]
    head = {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(text)}*"}}
    return text, [head, *_sections(lines)][: MAX_SECTIONS + 1]


def detail_replies(entries: Sequence[Entry]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The thread under a digest: per pipeline, each build's branch, commit, author, duration."""
    by_pipeline: dict[str, list[Entry]] = {}
    for e in entries:
        by_pipeline.setdefault(e.summary.pipeline, []).append(e)
    lines: list[str] = []
    for pipeline, group in by_pipeline.items():
        lines.append(f"*{escape(pipeline)}* ({len(group)})")
        for e in group:
            s = e.summary
            lines.append(
                f"• {_link(s)} {escape(s.state)} on `{escape(s.branch)}` at `{escape(s.commit)}`"
                f" by {escape(s.author)}, {escape(s.duration)}: {escape(s.message)}"
            )
    sections = _sections(lines)
    replies = []
    for start in range(0, len(sections), MAX_SECTIONS):
        part = sections[start : start + MAX_SECTIONS]
        replies.append((f"Details of {len(entries)} builds", part))
    return replies


class Digests:
    """The pending digests of a function's channels, in ``store``."""

    def __init__(
        self,
        store: Store,
        slack: SlackClient,
        *,
        function: str = "slack_notify",
        lease_s: float = 60.0,
        clock: Callable[[], float] = clock.now,
    ) -> None:
        self.store = store
        self.slack = slack
        self.function = function
        self.lease_s = lease_s
        self._clock = clock

    def _key(self, channel: str) -> str:
        return f"{self.function}:digest:{channel}"

    def _lock(self, channel: str) -> str:
        return f"{self.function}:digest-lock:{channel}"

    def _state(self, channel: str) -> Mapping[str, Any]:
        return self.store.get_state(self._key(channel)).value

    def shown(self, channel: str, build: str) -> str | None:
        """The ts of the digest that showed ``build`` in ``channel``, if one did."""
        ts = (self._state(channel).get("shown") or {}).get(build)
        return str(ts) if ts else None

    def look(self, channel: str, build: str, after_s: float) -> tuple[str | None, bool]:
        """``shown(channel, build)``, and whether the channel is crowded: its posts booked
        more than ``after_s`` ahead, or builds already waiting for its digest (a new one
        joins them rather than overtaking them). One batch read of the channel's digest
        and its post schedule."""
        budget = self.slack.budget
        destination = self.slack.destination(channel)
        keys = [self._key(channel)] + ([budget.key(destination)] if budget is not None else [])
        states = get_states(self.store, keys)
        digest = states[0].value
        ts = (digest.get("shown") or {}).get(build)
        if ts or budget is None:
            return (str(ts) if ts else None), False
        if digest.get("pending"):
            return None, True
        return None, budget.backlog(destination, states[1].value) > after_s

    def add(self, channel: str, build: str, summary: BuildSummary) -> bool:
        """Put ``build`` in the channel's pending digest; False when a digest showed it already."""
        entry = Entry(build, self._clock(), summary).to_dict()
        outcome = {"shown": False}

        def put(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
            outcome["shown"] = build in (current.get("shown") or {})
            if outcome["shown"] or build in (current.get("pending") or {}):
                return None
            return {**current, "pending": {**(current.get("pending") or {}), build: entry}}

        update_state(self.store, self._key(channel), put)
        return not outcome["shown"]

    def pending(self, channel: str) -> list[Entry]:
        entries = [Entry.from_dict(e) for e in (self._state(channel).get("pending") or {}).values()]
        return sorted(entries, key=lambda e: (e.at, e.key))

    def flush(self, channel: str) -> int:
        """Post the channel's pending builds as digests; returns how many this call showed."""
        shown = 0
        while True:
            claim = self.store.claim(self._lock(channel), lease_s=self.lease_s)
            if claim.status != "claimed":
                return shown  # the holder looks again after releasing: it takes ours
            try:
                while self.pending(channel):
                    # Wait for the channel's slot first: the batch grows while we wait.
                    self.slack.reserve_post(channel)
                    batch_id, batch = self._batch(channel)
                    if batch:
                        shown += self._post(channel, batch_id, batch)
            finally:
                self.store.release(self._lock(channel), claim.token)
            if not self.pending(channel):
                return shown

    def _batch(self, channel: str) -> tuple[str, list[Entry]]:
        """The batch to post next: the one recorded but not yet shown (a post cut short),
        else the oldest pending builds, recorded as the batch before anything is sent."""
        chosen: dict[str, Any] = {}

        def choose(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
            pending = current.get("pending") or {}
            posting = current.get("posting")
            if isinstance(posting, Mapping) and any(k in pending for k in posting["keys"]):
                chosen.update(posting)
                return None
            oldest = sorted(pending.values(), key=lambda e: (e["at"], e["key"]))
            keys = [e["key"] for e in oldest[:MAX_PER_DIGEST]]
            chosen.update(id=new_token(), keys=keys)
            return {**current, "posting": dict(chosen)}

        update_state(self.store, self._key(channel), choose)
        pending = self._state(channel).get("pending") or {}
        entries = [Entry.from_dict(pending[k]) for k in chosen["keys"] if k in pending]
        return str(chosen["id"]), entries

    def _post(self, channel: str, batch_id: str, batch: Sequence[Entry]) -> int:
        text, blocks = digest_blocks(batch, self._clock())

        def create(marker: str) -> Mapping[str, Any]:
            channel_id, ts = self.slack.post(
                channel, text, blocks, marker=marker, slot_reserved=True
            )
            return {"id": channel_id, "ts": ts}

        def find(marker: str, since: float) -> Mapping[str, Any] | None:
            found = self.slack.find_post(channel, marker, since)
            return {"id": found[0], "ts": found[1]} if found else None

        done = effects.once(
            self.store, f"{self.function}:digest-post:{channel}:{batch_id}", create, find
        )
        channel_id, ts = str(done.result["id"]), str(done.result["ts"])
        keys = {e.key for e in batch}

        def record(current: Mapping[str, Any]) -> Mapping[str, Any]:
            pending = {k: v for k, v in (current.get("pending") or {}).items() if k not in keys}
            shown = dict(current.get("shown") or {})
            shown.update({k: ts for k in keys})
            if len(shown) > SHOWN_KEPT:
                shown = dict(list(shown.items())[-SHOWN_KEPT:])
            rest = {k: v for k, v in current.items() if k != "posting"}
            return {**rest, "pending": pending, "shown": shown}

        if update_state(self.store, self._key(channel), record) is None:  # pragma: no cover
            raise TransientError(f"digest of {channel} could not be recorded")
        for reply_text, reply_blocks in detail_replies(batch):
            self.slack.post(channel_id, reply_text, reply_blocks, thread_ts=ts, pace_as=channel)
        return len(batch)
