"""A local server that speaks the Slack Web API methods slack_notify uses.

It behaves as Slack documents them, so the real ``slack_sdk`` client is tested
against the protocol rather than against our expectations:

* every method needs ``Authorization: Bearer <bot token>`` (else ``invalid_auth``);
* ``chat.postMessage`` takes a channel name or ID (JSON or form body) and answers
  with the channel *ID* and the message ``ts``; unknown channels are
  ``channel_not_found``;
* ``chat.update`` takes only a channel ID and an existing ``ts``
  (``channel_not_found`` / ``message_not_found`` otherwise);
* ``chat.delete`` takes a channel ID and the ``ts`` of a stored message
  (``message_not_found`` otherwise) and removes it (``server.deleted``);
* ``users.lookupByEmail`` reads ``email`` from the query string or a form body,
  never from JSON (Slack ignores JSON bodies there: ``invalid_arguments``);
* ``chat.postMessage`` keeps the message's ``metadata``; ``conversations.history``
  and ``conversations.replies`` (channel ID only, ``oldest``, ``cursor`` paging of
  ``limit``) return it only with ``include_all_metadata``;
  ``conversations.list`` pages the channels (name → ID).

Every committed post is in ``server.committed("post")``.

Errors are HTTP 200 with ``{"ok": false, "error": ...}``, as Slack sends them;
tests queue 429s and 5xx with ``server.queue``.

With ``post_interval_s`` the fake enforces Slack's chat.postMessage limit,
"1 message per second to a specific channel, with short bursts of more than 1
allowed" (thread replies included), as a schedule of one post per interval
that tolerates a burst of two: a post that would run ahead of it is answered
HTTP 429 ``ratelimited`` with ``Retry-After`` (whole seconds as Slack sends them, or
tenths when the interval is under a second, for benchmarks that scale time).
Accepted posts are kept with the moment they were accepted (``posted_at``).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.fakehttp import FakeServer, Reply

TOKEN = "xoxb-test-token-not-real"
USERS = {"jane@acme.example": "U0JANE"}
CHANNELS = {"#ci": "C0CI", "#builds": "C0BUILDS", "#security": "C0SEC"}


class SlackFake(FakeServer):
    """The fake, plus what it has stored: messages by (channel ID, ts)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.posted_at: dict[tuple[str, str], float] = {}  # on slack_server's clock
        self.refused = 0
        self.deleted: list[tuple[str, str]] = []  # (channel ID, ts) of each chat.delete
        self.clock: Callable[[], float] = time.time
        self.epoch = int(self.clock())

    def ts(self, n: int) -> str:
        """The ``ts`` of the n-th message posted (1-based), as this fake numbers them."""
        return f"{self.epoch}.{n:06d}"


def slack_server(
    post_interval_s: float | None = None,
    channels: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SlackFake:
    """The fake; ``channels`` (name → ID) adds channels to the built-in ones."""
    fake = SlackFake()
    counter = itertools.count(1)
    known = {**CHANNELS, **(channels or {})}
    ids = {**known, **{v: v for v in known.values()}}
    next_post: dict[str, float] = {}
    pace = threading.Lock()

    def limited(channel: str) -> Reply | None:
        if not post_interval_s:
            return None
        with pace:
            now = clock()
            # GCRA: the channel's schedule may run one interval ahead (a burst of two).
            due = max(next_post.get(channel, 0.0), now)
            wait = due - now - post_interval_s
            if wait > 0:
                fake.refused += 1
                seconds = math.ceil(wait) if post_interval_s >= 1 else math.ceil(wait * 10) / 10
                return Reply(
                    429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(seconds)}
                )
            next_post[channel] = due + post_interval_s
        return None

    def authorized(req: Any) -> Reply | None:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        return None

    @fake.route("POST", "/api/chat.postMessage")
    def post(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        body = req.data()
        channel = ids.get(body.get("channel", ""))
        if channel is None:
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return Reply(200, {"ok": False, "error": "no_text"})
        if (refused := limited(channel)) is not None:
            return refused
        ts = fake.ts(next(counter))
        fake.messages[(channel, ts)] = dict(body)
        fake.posted_at[(channel, ts)] = clock()
        fake.commit("post", channel=channel, ts=ts, thread_ts=body.get("thread_ts"))
        return Reply(200, {"ok": True, "channel": channel, "ts": ts, "message": body})

    def query(req: Any) -> dict[str, str]:
        sent = {k: v[0] for k, v in req.query.items()}
        if req.body:
            sent.update({str(k): str(v) for k, v in req.data().items()})
        return sent

    def page(req: Any, thread: bool) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        sent = query(req)
        channel = sent.get("channel", "")
        if channel not in known.values():
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        oldest = float(sent.get("oldest") or 0)
        found = []
        for (cid, ts), body in fake.messages.items():
            in_thread = body.get("thread_ts") == sent.get("ts") or ts == sent.get("ts")
            if cid != channel or float(ts) < oldest:
                continue
            if (thread and not in_thread) or (not thread and body.get("thread_ts")):
                continue
            item: dict[str, Any] = {"type": "message", "ts": ts, "text": body.get("text")}
            if body.get("thread_ts"):
                item["thread_ts"] = body["thread_ts"]
            if body.get("metadata") and sent.get("include_all_metadata") in ("true", "1"):
                item["metadata"] = body["metadata"]
            found.append(item)
        found.sort(key=lambda m: float(m["ts"]), reverse=not thread)
        start = int(sent.get("cursor") or 0)
        limit = int(sent.get("limit") or 100)
        chunk = found[start : start + limit]
        more = start + limit < len(found)
        answer: dict[str, Any] = {"ok": True, "messages": chunk, "has_more": more}
        answer["response_metadata"] = {"next_cursor": str(start + limit) if more else ""}
        return Reply(200, answer)

    @fake.route("GET", "/api/conversations.history")
    @fake.route("POST", "/api/conversations.history")
    def history(req: Any) -> Reply:
        return page(req, thread=False)

    @fake.route("GET", "/api/conversations.replies")
    @fake.route("POST", "/api/conversations.replies")
    def replies(req: Any) -> Reply:
        return page(req, thread=True)

    @fake.route("GET", "/api/conversations.list")
    @fake.route("POST", "/api/conversations.list")
    def listing(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        channels = [{"id": cid, "name": name.lstrip("#")} for name, cid in known.items()]
        return Reply(200, {"ok": True, "channels": channels, "response_metadata": {}})

    @fake.route("POST", "/api/chat.update")
    def update(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        body = req.data()
        channel = str(body.get("channel", ""))
        if channel not in known.values():  # names are refused: the ID is required
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        key = (channel, str(body.get("ts", "")))
        if key not in fake.messages:
            return Reply(200, {"ok": False, "error": "message_not_found"})
        fake.messages[key].update(text=body.get("text"), blocks=body.get("blocks"))
        return Reply(200, {"ok": True, "channel": channel, "ts": key[1]})

    @fake.route("POST", "/api/chat.delete")
    def delete(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        body = req.data()
        channel = str(body.get("channel", ""))
        if channel not in known.values():
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        key = (channel, str(body.get("ts", "")))
        if fake.messages.pop(key, None) is None:
            return Reply(200, {"ok": False, "error": "message_not_found"})
        fake.deleted.append(key)
        return Reply(200, {"ok": True, "channel": channel, "ts": key[1]})

    @fake.route("GET", "/api/users.lookupByEmail")
    @fake.route("POST", "/api/users.lookupByEmail")
    def lookup(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        sent = {k: v[0] for k, v in req.query.items()}
        if "json" not in req.headers.get("content-type", ""):
            sent.update(req.form() if req.body else {})
        email = sent.get("email")
        if not email:
            return Reply(200, {"ok": False, "error": "invalid_arguments"})
        if email in USERS:
            return Reply(200, {"ok": True, "user": {"id": USERS[email], "profile": {}}})
        return Reply(200, {"ok": False, "error": "users_not_found"})

    return fake
