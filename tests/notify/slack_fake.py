"""A local server that speaks the Slack Web API methods slack_notify uses.

It behaves as Slack documents them, so the real ``slack_sdk`` client is tested
against the protocol rather than against our expectations:

* every method needs ``Authorization: Bearer <bot token>`` (else ``invalid_auth``);
* ``chat.postMessage`` takes a channel name or ID (JSON or form body) and answers
  with the channel *ID* and the message ``ts``; unknown channels are
  ``channel_not_found``;
* ``chat.update`` takes only a channel ID and an existing ``ts``
  (``channel_not_found`` / ``message_not_found`` otherwise);
* ``users.lookupByEmail`` reads ``email`` from the query string or a form body,
  never from JSON (Slack ignores JSON bodies there: ``invalid_arguments``).

Errors are HTTP 200 with ``{"ok": false, "error": ...}``, as Slack sends them;
tests queue 429s and 5xx with ``server.queue``.
"""

from __future__ import annotations

import itertools
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


def slack_server() -> SlackFake:
    fake = SlackFake()
    counter = itertools.count(1)
    ids = {**CHANNELS, **{v: v for v in CHANNELS.values()}}

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
        ts = f"1700000000.{next(counter):06d}"
        fake.messages[(channel, ts)] = dict(body)
        return Reply(200, {"ok": True, "channel": channel, "ts": ts, "message": body})

    @fake.route("POST", "/api/chat.update")
    def update(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        body = req.data()
        channel = str(body.get("channel", ""))
        if channel not in CHANNELS.values():  # names are refused: the ID is required
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        key = (channel, str(body.get("ts", "")))
        if key not in fake.messages:
            return Reply(200, {"ok": False, "error": "message_not_found"})
        fake.messages[key].update(text=body.get("text"), blocks=body.get("blocks"))
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
