"""``cievents dead-letters list|replay``: see what was dead-lettered, and send it through again.

A function republishes a message it cannot handle for good (a malformed
payload, a 4xx, a refused credential) to ``CIEVENTS_DEAD_LETTER`` with the
original data and attributes plus ``cievents_function``, ``cievents_reason``,
``cievents_error``, ``cievents_message_id`` (and ``cievents_credential`` for
an ``auth`` failure). Read them from a subscription on that topic (Pub/Sub,
or the emulator when ``PUBSUB_EMULATOR_HOST`` is set) or from a ``file:``
target's file:

    cievents dead-letters list --subscription projects/P/subscriptions/ci-events-dead-letter-sub
    cievents dead-letters replay --subscription ... [--topic projects/P/topics/ci-events]
    cievents dead-letters list --file .cievents/dead-letters.jsonl

``list`` prints one JSON line per message and leaves them where they are
(pulled, then released with a zero ack deadline). ``replay`` publishes each
to ``--topic`` (default: the topic the dead-lettering function subscribes to
in function.yaml) with its original attributes, the ``cievents_*`` ones
removed and ``cievents_replayed_from`` added, and acks it only once
published. The functions key on the ``delivery_id`` attribute, so those that
handled the event before see a duplicate, and the one that dead-lettered it
acts once. ``--function NAME`` replays only that function's letters.
Exit status: 0, or 1 when a message could not be replayed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cievents.errors import CIEventsError

__all__ = ["Letter", "add_arguments", "original_attributes", "run"]

PREFIX = "cievents_"


@dataclass(frozen=True)
class Letter:
    data: bytes
    attributes: Mapping[str, str]
    message_id: str = ""
    ack_id: str = ""

    def summary(self) -> dict[str, Any]:
        a = self.attributes
        return {
            "message_id": self.message_id,
            "function": a.get("cievents_function", ""),
            "reason": a.get("cievents_reason", ""),
            "error": a.get("cievents_error", ""),
            "credential": a.get("cievents_credential", ""),
            "original_message_id": a.get("cievents_message_id", ""),
            "delivery_id": a.get("delivery_id", ""),
            "source": a.get("source", ""),
            "event": a.get("event", ""),
            "bytes": len(self.data),
        }


def original_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """The attributes the message had before it was dead-lettered."""
    return {k: v for k, v in attributes.items() if not k.startswith(PREFIX)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=["list", "replay"],
        help="list: print each letter as one JSON line; replay: publish each to its topic",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--subscription", help="a subscription on the dead-letter topic")
    where.add_argument(
        "--file",
        type=Path,
        help="a dead-letter file (one JSON line per letter), as local runs write",
    )
    parser.add_argument("--topic", help="replay to this topic (default: from function.yaml)")
    parser.add_argument("--function", help="only the letters of this function")
    parser.add_argument("--max", type=int, default=100, help="at most this many (default 100)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for Pub/Sub (default 30)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        source = _FileLetters(args.file) if args.file else _PubSubLetters(args.subscription, args)
        letters = [
            x
            for x in source.pull(args.max)
            if not args.function or x.attributes.get("cievents_function") == args.function
        ]
        if args.action == "list":
            for letter in letters:
                print(json.dumps(letter.summary(), sort_keys=True))
            source.release(letters)
            return 0
        return _replay(args, source, letters)
    except CIEventsError as exc:
        print(f"cievents dead-letters: {exc.message}", file=sys.stderr)
        return 2


def _replay(args: argparse.Namespace, source: _Letters, letters: list[Letter]) -> int:
    from cievents.publish import publisher_for, qualified_target

    failed = 0
    done: list[Letter] = []
    for letter in letters:
        topic = args.topic or _topic_of(letter.attributes.get("cievents_function", ""))
        attributes = original_attributes(letter.attributes)
        attributes["cievents_replayed_from"] = letter.message_id or "file"
        try:
            published = publisher_for(qualified_target(topic, "--topic")).publish(
                letter.data, attributes
            )
        except CIEventsError as exc:
            failed += 1
            print(json.dumps({**letter.summary(), "replayed": False, "error": exc.message}))
            continue
        done.append(letter)
        print(json.dumps({**letter.summary(), "replayed": True, "to": topic, "id": published}))
    source.acknowledge(done)
    source.release([x for x in letters if x not in done])
    return 1 if failed else 0


def _topic_of(function: str) -> str:
    """The topic ``function`` subscribes to in function.yaml."""
    from cievents.deploy.manifest import load

    try:
        spec = load().function(function)
    except Exception as exc:
        raise CIEventsError(
            f"no --topic given and function {function!r} is not in function.yaml ({exc})"
        ) from None
    if not spec.triggers:
        raise CIEventsError(f"function {function!r} has no topic in function.yaml; give --topic")
    return spec.triggers[0].topic


class _Letters:
    def pull(self, limit: int) -> list[Letter]:
        raise NotImplementedError

    def acknowledge(self, letters: list[Letter]) -> None:
        raise NotImplementedError

    def release(self, letters: list[Letter]) -> None:
        raise NotImplementedError


class _FileLetters(_Letters):
    """``file:PATH`` targets: one JSON line per letter; replayed lines are removed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[str] = []

    def pull(self, limit: int) -> list[Letter]:
        if not self.path.exists():
            raise CIEventsError(f"{self.path}: no such dead-letter file")
        self._lines = [x for x in self.path.read_text(encoding="utf-8").splitlines() if x]
        return list(self._parse(limit))

    def _parse(self, limit: int) -> Iterator[Letter]:
        for index, line in enumerate(self._lines[:limit]):
            entry = json.loads(line)
            yield Letter(
                base64.b64decode(entry.get("data", "")),
                {str(k): str(v) for k, v in (entry.get("attributes") or {}).items()},
                message_id=f"line-{index + 1}",
                ack_id=str(index),
            )

    def acknowledge(self, letters: list[Letter]) -> None:
        gone = {int(x.ack_id) for x in letters}
        if gone:
            kept = [line for i, line in enumerate(self._lines) if i not in gone]
            self.path.write_text("".join(x + "\n" for x in kept), encoding="utf-8")

    def release(self, letters: list[Letter]) -> None:
        return None


class _PubSubLetters(_Letters):
    def __init__(self, subscription: str, args: argparse.Namespace) -> None:
        from google.cloud import pubsub_v1

        from cievents.publish import project_id

        if not subscription.startswith("projects/"):
            project = project_id()
            if not project:
                raise CIEventsError(
                    "a bare --subscription name needs GOOGLE_CLOUD_PROJECT; or give "
                    "projects/<project>/subscriptions/<name>"
                )
            subscription = f"projects/{project}/subscriptions/{subscription}"
        self.subscription = subscription
        self.timeout = args.timeout
        self.client: Any = pubsub_v1.SubscriberClient()

    def pull(self, limit: int) -> list[Letter]:
        from google.api_core import exceptions as gexc

        letters: list[Letter] = []
        while len(letters) < limit:
            wanted = min(100, limit - len(letters))
            try:
                answer = self.client.pull(
                    request={
                        "subscription": self.subscription,
                        "max_messages": wanted,
                        "return_immediately": True,
                    },
                    timeout=self.timeout,
                    retry=None,
                )
            except gexc.DeadlineExceeded:
                break
            except gexc.GoogleAPICallError as exc:
                raise CIEventsError(f"pull from {self.subscription}: {exc.message}") from None
            for received in answer.received_messages:
                m = received.message
                letters.append(
                    Letter(bytes(m.data), dict(m.attributes), m.message_id, received.ack_id)
                )
            if not answer.received_messages:
                break
        return letters

    def acknowledge(self, letters: list[Letter]) -> None:
        if letters:
            self.client.acknowledge(
                request={"subscription": self.subscription, "ack_ids": [x.ack_id for x in letters]}
            )

    def release(self, letters: list[Letter]) -> None:
        if letters:
            self.client.modify_ack_deadline(
                request={
                    "subscription": self.subscription,
                    "ack_ids": [x.ack_id for x in letters],
                    "ack_deadline_seconds": 0,
                }
            )
