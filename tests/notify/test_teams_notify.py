"""teams_notify against a local Workflows webhook that answers 202."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cievents.errors import ConfigError, ValidationError
from cievents.notify import cards
from cievents.notify.render import BuildSummary
from cievents.sources import parse
from tests.conftest import CapturedLog
from tests.notify.events import build, push_body
from tests.support.apps import function_client
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
        return function_client(
            monkeypatch,
            SOURCE,
            {
                "CIEVENTS_ROUTING_FILE": str(tmp_path / "routing.yaml"),
                "TEAMS_WEBHOOK_URL": f"{teams.url}/workflows/default",
                "TEAMS_WEBHOOK_URL_ONCALL": f"{teams.url}/workflows/oncall",
                **env,
            },
        )

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


def test_a_lost_answer_is_not_resent_blind_and_a_replay_posts_only_where_it_failed(
    client_for: Callable[..., FlaskClient],
    teams: FakeServer,
    captured_log: CapturedLog,
    tmp_path: Path,
) -> None:
    # A 502 may hide a delivered card, and a Workflows URL cannot be asked whether it
    # has it: the card is not re-sent blind (the message fails, or is dead-lettered, with
    # reason outcome_unknown); a replay after a look posts only where it failed.
    teams.queue("POST", "/workflows/oncall", Reply(502, "bad gateway"))
    dead = tmp_path / "dead-letters.jsonl"
    client = client_for(CIEVENTS_DEAD_LETTER=f"file:{dead}")
    assert deliver(client, build("build.finished", "failed")) in (200, 204)
    assert captured_log.outcomes()[-1]["reason"] == "outcome_unknown"
    (letter,) = dead.read_text().splitlines()
    assert json.loads(letter)["attributes"]["cievents_reason"] == "outcome_unknown"
    assert deliver(client, build("build.finished", "failed")) == 200  # the replay
    paths = [r.path for r in teams.requests]
    assert paths.count("/workflows/default") == 1 and paths.count("/workflows/oncall") == 2
    assert [o["outcome"] for o in captured_log.outcomes()] == ["dead_lettered", "acted"]


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


@pytest.mark.parametrize(
    "reply",
    [Reply(202, ""), Reply(200, "1"), Reply(204, None)],
    ids=["workflows-202", "connector-200", "204"],
)
def test_any_2xx_is_success_and_never_reposted(
    client_for: Callable[..., FlaskClient], teams: FakeServer, reply: Reply
) -> None:
    teams.queue("POST", "/workflows/default", reply)
    client = client_for()
    for _ in range(3):
        assert deliver(client, build("build.finished", "failed", branch="dev")) == 200
    assert [r.path for r in teams.requests] == ["/workflows/default"]


def test_default_rules_post_the_first_failure_and_the_recovery_only(
    client_for: Callable[..., FlaskClient], teams: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_for()  # the environment, then the built-in rules instead of the test's file
    monkeypatch.delenv("CIEVENTS_ROUTING_FILE")
    monkeypatch.delenv("TEAMS_WEBHOOK_URL_ONCALL")
    client = function_client(monkeypatch, SOURCE)
    history = [(1, "passed"), (2, "failed"), (3, "failed"), (4, "passed"), (5, "passed")]
    for number, state in history:
        deliver(client, build("build.running", "running", number=number, branch="feature/z"))
        deliver(client, build("build.finished", state, number=number, branch="feature/z"))
    titles = [r.json()["attachments"][0]["content"]["body"][0]["text"] for r in teams.requests]
    assert titles == ["Web App #2 failed", "Web App #4 passed"]


def test_dry_run_records_the_card_with_the_webhook_url_masked(
    client_for: Callable[..., FlaskClient], teams: FakeServer, tmp_path: Path
) -> None:
    secret_url = f"{teams.url}/workflows/default?api-version=1&sig=SuperSecretSig123"
    client = client_for(TEAMS_WEBHOOK_URL=secret_url, CIEVENTS_DRY_RUN="1")
    deliver(client, build("build.finished", "failed", branch="dev"))
    assert teams.requests == []
    outbox = (tmp_path / "outbox" / "teams.jsonl").read_text()
    assert "SuperSecretSig123" not in outbox
    (entry,) = [json.loads(line) for line in outbox.splitlines()]
    assert entry["sink"] == "teams" and entry["method"] == "POST"
    assert entry["body"]["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_no_webhook_at_all_is_a_dry_run(
    client_for: Callable[..., FlaskClient], teams: FakeServer, tmp_path: Path
) -> None:
    client = client_for(TEAMS_WEBHOOK_URL="", TEAMS_WEBHOOK_URL_ONCALL="")
    deliver(client, build("build.finished", "failed"))
    recorded = (tmp_path / "outbox" / "teams.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["url"] for line in recorded) == [
        "https://teams.invalid/default",
        "https://teams.invalid/oncall",
    ]
    assert teams.requests == []


def test_a_destination_without_its_url_is_refused_at_cold_start(
    client_for: Callable[..., FlaskClient],
) -> None:
    with pytest.raises(ConfigError) as raised:
        client_for(TEAMS_WEBHOOK_URL_ONCALL="")
    assert raised.value.variable == "TEAMS_WEBHOOK_URL_ONCALL"
    assert "rule 'oncall'" in raised.value.problem


def test_a_bad_card_format_is_refused_at_cold_start(
    client_for: Callable[..., FlaskClient],
) -> None:
    with pytest.raises(ConfigError, match="TEAMS_CARD_FORMAT"):
        client_for(TEAMS_CARD_FORMAT="html")


def test_the_webhook_secret_never_reaches_the_log(
    client_for: Callable[..., FlaskClient], teams: FakeServer, captured_log: CapturedLog
) -> None:
    secret_url = f"{teams.url}/workflows/default?sig=SuperSecretSig123"
    teams.queue("POST", "/workflows/default", Reply(401, {"error": "bad sig"}))
    client = client_for(TEAMS_WEBHOOK_URL=secret_url)
    deliver(client, build("build.finished", "failed", branch="dev"))
    line = captured_log.outcomes()[-1]
    assert line["outcome"] == "failed" and "teams default: HTTP 401" in line["error"]
    assert "SuperSecretSig123" not in captured_log.text


def test_huge_fields_are_clipped_so_the_card_still_fits(
    client_for: Callable[..., FlaskClient], teams: FakeServer
) -> None:
    payload = build("build.finished", "failed", branch="b" * 40_000)
    deliver(client_for(), payload)
    (request,) = teams.requests
    assert len(request.body) < cards.MAX_CARD_BYTES
    facts = request.json()["attachments"][0]["content"]["body"][1]["facts"]
    assert facts[1]["title"] == "Branch" and len(facts[1]["value"]) == cards.MAX_TEXT
