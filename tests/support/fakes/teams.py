"""A local server standing in for Teams incoming webhooks / Workflows URLs.

Any ``POST /workflows/<name>`` with a JSON card is accepted (HTTP 202, as
Workflows answers) and committed: ``server.committed("card")``. Such a URL has
no read API, so a card whose answer was lost cannot be looked up.
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeServer, Reply


def teams_server() -> FakeServer:
    fake = FakeServer()

    @fake.route("POST", r"/workflows/(?P<name>[\w-]+)")
    def post(req: Any) -> Reply:
        card = req.json()
        if not isinstance(card, dict):
            return Reply(400, {"error": {"code": "InvalidRequestContent"}})
        fake.commit("card", destination=req.match.group("name"))
        return Reply(202, "")

    return fake
