"""teams_notify against a local Workflows webhook that answers 202."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from cievents.errors import ValidationError
from cievents.notify import cards
from cievents.notify.render import BuildSummary
from cievents.sources import parse
from tests.conftest import CapturedLog
from tests.notify.events import build, push_body
from tests.support.fakehttp import FakeServer, Reply

SOURCE = str(Path(__file__).parents[2] / "functions" / "teams_notify" / "main.py")
FAILURES = (
    "rules:\n  - name: failures\n    event: build.finished\n    state: failed\n"
    "    teams: default\n  - name: oncall\n    branch: main\n    state: failed\n"
    "    teams: oncall\n"
)
ids = itertools.count(1)


@pytest.fixture
def teams() -> Iterator[FakeServer]:
    fake = FakeServer()

    @fake.route("POST", "/workflows/.*")
    def accept(req: Any) -> Reply:
        return Reply(202, "")

    with fake:
        yield fake


@pytest.fixture
def client_for(
    teams: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., FlaskClient]:
    def make(rules: str = FAILURES, **env: str) -> FlaskClient:
        (tmp_path / "routing.yaml").write_text(rules)
        monkeypatch.setenv("CIEVENTS_ROUTING_FILE", str(tmp_path / "routing.yaml"))
        monkeypatch.setenv("TEAMS_WEBHOOK_URL", f"{teams.url}/workflows/default")
        monkeypatch.setenv("TEAMS_WEBHOOK_URL_ONCALL", f"{teams.url}/workflows/oncall")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = functions_framework.create_app(
            target="handle", source=SOURCE, signature_type="cloudevent"
        )
        return app.test_client()

    return make


def deliver(client: FlaskClient, payload: dict[str, Any]) -> int:
    return client.post("/", json=push_body(payload, f"t{next(ids)}")).status_code


def test_posts_once_per_destination_under_redelivery(
    client_for: Callable[..., FlaskClient], teams: FakeServer
) -> None:
    client = client_for()
    for _ in range(3):
        assert deliver(client, build("build.finished", "failed")) == 200
        assert deliver(client, build("build.running", "running")) == 200
    assert sorted(r.path for r in teams.requests) == ["/workflows/default", "/workflows/oncall"]
    body = teams.requests[0].json()
    assert body["type"] == "message"
    card = body["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["text"] == "Web App #42 failed"
    assert card["actions"][0]["url"].endswith("/builds/42")


def test_a_transient_failure_reposts_only_where_it_failed(
    client_for: Callable[..., FlaskClient], teams: FakeServer, captured_log: CapturedLog
) -> None:
    teams.queue("POST", "/workflows/oncall", Reply(502, "bad gateway"))
    teams.queue("POST", "/workflows/oncall", Reply(502, "bad gateway"))
    teams.queue("POST", "/workflows/oncall", Reply(502, "bad gateway"))
    client = client_for()
    assert deliver(client, build("build.finished", "failed")) == 500
    assert deliver(client, build("build.finished", "failed")) == 200
    paths = [r.path for r in teams.requests]
    assert paths.count("/workflows/default") == 1 and paths.count("/workflows/oncall") == 4
    assert [o["outcome"] for o in captured_log.outcomes()] == ["retried", "acted"]


def test_rejected_webhook_is_permanent(
    client_for: Callable[..., FlaskClient], teams: FakeServer, captured_log: CapturedLog
) -> None:
    teams.queue("POST", "/workflows/default", Reply(400, {"error": "bad request"}))
    assert deliver(client_for(), build("build.finished", "failed", branch="dev")) == 200
    assert captured_log.outcomes()[-1]["outcome"] == "failed"


def test_messagecard_format(client_for: Callable[..., FlaskClient], teams: FakeServer) -> None:
    deliver(
        client_for(TEAMS_CARD_FORMAT="messagecard"), build("build.finished", "failed", branch="dev")
    )
    (request,) = teams.requests
    card = request.json()
    assert card["@type"] == "MessageCard" and card["themeColor"] == "E01E5A"
    assert card["potentialAction"][0]["targets"][0]["uri"].endswith("/builds/42")


def test_cards_are_validated_before_sending() -> None:
    event = parse(build("build.finished", "failed"))
    summary = BuildSummary.of(event)  # type: ignore[arg-type]
    assert cards.validate(cards.adaptive_card(summary)) < cards.MAX_CARD_BYTES
    huge = cards.adaptive_card(summary)
    huge["attachments"][0]["content"]["body"][0]["text"] = "x" * 40_000
    with pytest.raises(ValidationError, match="over Teams"):
        cards.validate(huge)
    broken = cards.adaptive_card(summary)
    broken["attachments"][0]["content"]["body"].append({"type": "Image"})
    with pytest.raises(ValidationError, match="unsupported element 'Image'"):
        cards.validate(broken)
    with pytest.raises(ValidationError, match="required"):
        cards.validate(
            {
                "type": "message",
                "attachments": [
                    {
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "content": {
                            "type": "AdaptiveCard",
                            "version": "1.4",
                            "body": [{"type": "TextBlock"}],
                        },
                    }
                ],
            }
        )
