"""A local server that speaks the Slack Web API methods slack_notify uses."""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.fakehttp import FakeServer, Reply

TOKEN = "xoxb-test-token-not-real"
USERS = {"jane@acme.example": "U0JANE"}


def slack_server() -> FakeServer:
    fake = FakeServer()
    counter = itertools.count(1)
    channels = {"#ci": "C0CI", "#builds": "C0BUILDS", "C0CI": "C0CI", "C0BUILDS": "C0BUILDS"}

    def authorized(req: Any) -> Reply | None:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        return None

    @fake.route("POST", "/api/chat.postMessage")
    def post(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        body = req.data()
        channel = channels.get(body.get("channel", ""))
        if channel is None:
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        return Reply(200, {"ok": True, "channel": channel, "ts": f"1700000000.{next(counter):06d}"})

    @fake.route("POST", "/api/chat.update")
    def update(req: Any) -> Reply:
        if (denied := authorized(req)) is not None:
            return denied
        body = req.data()
        if not str(body.get("channel", "")).startswith("C"):
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        return Reply(200, {"ok": True, "channel": body["channel"], "ts": body["ts"]})

    @fake.route("POST", "/api/users.lookupByEmail")
    def lookup(req: Any) -> Reply:
        email = req.data().get("email")
        if email in USERS:
            return Reply(200, {"ok": True, "user": {"id": USERS[email]}})
        return Reply(200, {"ok": False, "error": "users_not_found"})

    return fake
