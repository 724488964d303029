"""slack_notify with the real slack_sdk WebClient against a local Slack Web API."""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import CapturedLog
from tests.notify.events import build, job, push_body
from tests.support.apps import function_client
from tests.support.fakehttp import FakeServer, Reply
from tests.support.fakes.slack import TOKEN, SlackFake, slack_server

SOURCE = str(Path(__file__).parents[2] / "functions" / "slack_notify" / "main.py")
ALL_TO_CI = "rules:\n  - name: everything\n    source: buildkite\n    slack: '#ci'\n"


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    server = slack_server()
    with server:
        yield server


@pytest.fixture
def client_for(
    slack: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., FlaskClient]:
    def make(rules: str = ALL_TO_CI, **env: str) -> FlaskClient:
        routing_file = tmp_path / "routing.yaml"
        routing_file.write_text(rules)
        return function_client(
            monkeypatch,
            SOURCE,
            {
                "CIEVENTS_ROUTING_FILE": str(routing_file),
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_API_URL": f"{slack.url}/api/",
                "SLACK_MIN_POST_INTERVAL_S": "0",
                "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
                **env,
            },
        )

    return make


ids = itertools.count(1)


def deliver(client: FlaskClient, payload: dict[str, Any]) -> int:
    return client.post("/", json=push_body(payload, f"m{next(ids)}")).status_code


def posts(slack: FakeServer) -> list[dict[str, Any]]:
    return [r.json() for r in slack.calls("POST", "/api/chat.postMessage")]


def updates(slack: FakeServer) -> list[dict[str, Any]]:
    return [r.json() for r in slack.calls("POST", "/api/chat.update")]


SEQUENCE = [
    build("build.scheduled", "scheduled"),
    build("build.running", "running"),
    job("job-a", ":rspec: Tests"),
    job("job-b", ":eslint: Lint", exit_status=2),
    build("build.finished", "failed"),
]


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4])
def test_one_message_updated_in_place_with_threaded_failures(
    client_for: Callable[..., FlaskClient], slack: FakeServer, seed: int | None
) -> None:
    deliveries = [payload for payload in SEQUENCE for _ in range(3)]
    if seed is not None:
        random.Random(seed).shuffle(deliveries)
    client = client_for()
    for payload in deliveries:
        assert deliver(client, payload) == 200
    messages = posts(slack)
    top = [m for m in messages if "thread_ts" not in m]
    replies = [m for m in messages if "thread_ts" in m]
    assert len(top) == 1
    assert top[0]["channel"] == "#ci"
    assert sorted(r["text"] for r in replies) == [
        ":x: :eslint: Lint failed (exit status 2)",
        ":x: :rspec: Tests failed (exit status 1)",
    ]
    assert {r["thread_ts"] for r in replies} == {slack.ts(1)}
    assert {r["channel"] for r in replies} == {"C0CI"}  # the ID the post returned
    final = updates(slack)[-1] if updates(slack) else top[0]
    assert final["blocks"][0]["text"]["text"].startswith(":red_circle:")
    for update in updates(slack):
        assert update["channel"] == "C0CI" and update["ts"] == slack.ts(1)
    # Whatever the order, the message only ever moves forward.
    order = [
        ":large_blue_circle:",
        ":large_yellow_circle:",
        ":large_orange_circle:",
        ":red_circle:",
    ]
    shown = [m["blocks"][0]["text"]["text"].split()[0] for m in [top[0], *updates(slack)]]
    assert [order.index(e) for e in shown] == sorted({order.index(e) for e in shown})
    if seed is None:  # in order: posted as scheduled, updated to running, then to failed
        assert shown == [":large_blue_circle:", ":large_yellow_circle:", ":red_circle:"]
    assert slack.messages[("C0CI", slack.ts(1))]["text"] == "Web App #42 failed on main"


def test_late_running_never_turns_red_back_to_yellow(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    client = client_for()
    deliver(client, build("build.scheduled", "scheduled"))
    deliver(client, build("build.finished", "failed"))
    deliver(client, build("build.running", "running"))
    assert len(updates(slack)) == 1
    assert ":red_circle:" in updates(slack)[0]["blocks"][0]["text"]["text"]


def test_block_kit_layout_and_mention(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    client = client_for()
    deliver(client, build("build.finished", "failed"))
    (message,) = posts(slack)
    headline, fields, actions = message["blocks"]
    assert headline["text"]["text"] == (
        ":red_circle: *<https://buildkite.com/acme-inc/web-app/builds/42|Web App #42>* failed"
        " — <@U0JANE>"
    )
    texts = [f["text"] for f in fields["fields"]]
    assert texts == [
        "*Branch*\nmain",
        "*Commit*\n`a1b2c3d` Fix checkout rounding error (SHOP-311)",
        "*Author*\nJane Doe",
        "*Duration*\n3m12s",
    ]
    assert actions["elements"][0]["url"] == "https://buildkite.com/acme-inc/web-app/builds/42"
    assert message["text"] == "Web App #42 failed on main"
    (lookup,) = slack.calls(pattern="/api/users.lookupByEmail")
    assert "json" not in lookup.headers.get("content-type", "")  # Slack ignores JSON there
    sent = {**{k: v[0] for k, v in lookup.query.items()}, **lookup.form()}
    assert sent == {"email": "jane@acme.example"}


def test_routing_changed_only_first_failure_and_recovery(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    rules = (
        "rules:\n  - name: news\n    event: build.finished\n    changed: true\n"
        "    slack: '#ci'\n"
    )
    client = client_for(rules)
    for number, state in [
        (1, "passed"),
        (2, "failed"),
        (3, "failed"),
        (4, "passed"),
        (5, "passed"),
    ]:
        deliver(client, build("build.finished", state, number=number, branch="feature/x"))
    announced = [m["text"] for m in posts(slack)]
    assert announced == ["Web App #2 failed on feature/x", "Web App #4 passed on feature/x"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(200, {"ok": False, "error": "not_in_channel"}), "invite the bot to the channel"),
        (Reply(200, {"ok": False, "error": "channel_not_found"}), "does not exist"),
        (Reply(200, {"ok": False, "error": "invalid_auth"}), "SLACK_BOT_TOKEN is invalid"),
    ],
)
def test_configuration_errors_are_permanent_with_a_clear_log(
    client_for: Callable[..., FlaskClient],
    slack: FakeServer,
    captured_log: CapturedLog,
    reply: Reply,
    error: str,
) -> None:
    slack.queue("POST", "/api/chat.postMessage", reply)
    client = client_for()
    assert deliver(client, build("build.finished", "failed")) == 200  # acked: no retry loop
    line = captured_log.outcomes()[-1]
    assert line["outcome"] == "failed" and error in line["error"]
    assert TOKEN not in captured_log.text
    # The same event again is a duplicate, not another attempt.
    assert deliver(client, build("build.finished", "failed")) == 200
    assert len(posts(slack)) == 1


def test_a_503_commits_nothing_so_the_post_is_retried_in_call(
    client_for: Callable[..., FlaskClient], slack: FakeServer, captured_log: CapturedLog
) -> None:
    slack.queue("POST", "/api/chat.postMessage", Reply(503, "upstream unavailable"))
    client = client_for()
    assert deliver(client, build("build.finished", "failed")) == 200
    assert deliver(client, build("build.finished", "failed")) == 200
    assert len(posts(slack)) == 2  # the refused attempt, then the one that landed
    assert [o["outcome"] for o in captured_log.outcomes()] == ["acted", "duplicate"]


@pytest.mark.parametrize(
    "reply",
    [Reply(500, "upstream broke"), Reply(200, {"ok": False, "error": "internal_error"})],
)
def test_server_errors_are_transient_and_the_redelivery_posts_once(
    client_for: Callable[..., FlaskClient],
    slack: FakeServer,
    captured_log: CapturedLog,
    reply: Reply,
) -> None:
    slack.queue("POST", "/api/chat.postMessage", reply)
    client = client_for()
    assert deliver(client, build("build.finished", "failed")) == 500  # Pub/Sub redelivers
    assert captured_log.outcomes()[-1]["outcome"] == "retried"
    assert deliver(client, build("build.finished", "failed")) == 200
    assert deliver(client, build("build.finished", "failed")) == 200
    assert len(posts(slack)) == 2  # the refused attempt, then the one that landed
    assert [o["outcome"] for o in captured_log.outcomes()] == ["retried", "acted", "duplicate"]


def test_rate_limit_waits_as_long_as_slack_asks_without_calling_it_again(
    client_for: Callable[..., FlaskClient], slack: FakeServer, captured_log: CapturedLog
) -> None:
    slack.queue(
        "POST",
        "/api/chat.postMessage",
        Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),
    )
    client = client_for()
    assert deliver(client, build("build.finished", "failed")) == 500
    first = captured_log.outcomes()[-1]
    assert first["outcome"] == "retried" and "Slack asks to wait 30 s" in first["error"]
    # Redelivered inside the 30 s: refused in-process, Slack is not called again.
    assert deliver(client, build("build.finished", "failed")) == 500
    assert "rate limited for" in captured_log.outcomes()[-1]["error"]
    assert len(posts(slack)) == 1


def test_network_errors_are_transient(
    client_for: Callable[..., FlaskClient], slack: FakeServer, captured_log: CapturedLog
) -> None:
    with FakeServer() as gone:
        url = gone.url
    client = client_for(SLACK_API_URL=f"{url}/api/")  # nothing listens there any more
    assert deliver(client, build("build.finished", "failed")) == 500
    line = captured_log.outcomes()[-1]
    assert line["outcome"] == "retried" and line["reason"] == "network"


def test_failed_job_before_the_build_message_is_threaded_under_it(
    client_for: Callable[..., FlaskClient], slack: SlackFake
) -> None:
    client = client_for()
    deliver(client, job("job-a", ":rspec: Tests"))
    deliver(client, build("build.running", "running"))  # late: the message already says failing
    deliver(client, build("build.finished", "failed"))
    top = [m for m in posts(slack) if "thread_ts" not in m]
    replies = [m for m in posts(slack) if "thread_ts" in m]
    assert len(top) == 1 and top[0]["blocks"][0]["text"]["text"].startswith(":large_orange_circle:")
    assert [r["text"] for r in replies] == [":x: :rspec: Tests failed (exit status 1)"]
    assert replies[0]["thread_ts"] == slack.ts(1)
    assert [u["blocks"][0]["text"]["text"][:12] for u in updates(slack)] == [":red_circle:"]
    stored = slack.messages[("C0CI", slack.ts(1))]
    assert stored["text"] == "Web App #42 failed on main"


def test_passed_and_soft_failed_jobs_are_not_threaded(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    client = client_for()
    deliver(client, build("build.running", "running"))
    deliver(client, job("job-ok", "Build", exit_status=0))
    soft = job("job-soft", "Flaky", exit_status=1)
    soft["job"]["soft_failed"] = True
    deliver(client, soft)
    assert [m for m in posts(slack) if "thread_ts" in m] == []


def test_unblocked_build_moves_on_from_blocked(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    client = client_for()
    deliver(client, build("build.finished", "passed", blocked=True))
    deliver(client, build("build.running", "running"))  # a late running never undoes it
    deliver(client, build("build.finished", "passed"))  # unblocked, then finished
    (top,) = posts(slack)
    assert top["text"] == "Web App #42 blocked on main"
    assert [u["text"] for u in updates(slack)] == ["Web App #42 passed on main"]


def test_author_lookup_is_cached_and_unknown_authors_are_not_mentioned(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    client = client_for()
    for number, email in enumerate(
        ["jane@acme.example", "jane@acme.example", "nobody@elsewhere.example"] * 2, start=1
    ):
        payload = build("build.finished", "failed", number=number)
        payload["build"]["author"]["email"] = email
        deliver(client, payload)
    assert len(slack.calls(pattern="/api/users.lookupByEmail")) == 2  # one per address
    headlines = [m["blocks"][0]["text"]["text"] for m in posts(slack)]
    assert [h.endswith("— <@U0JANE>") for h in headlines] == [True, True, False] * 2


def test_mentions_can_be_turned_off(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    deliver(client_for(SLACK_MENTION_AUTHORS="false"), build("build.finished", "failed"))
    assert slack.calls(pattern="/api/users.lookupByEmail") == []
    assert "<@" not in posts(slack)[0]["blocks"][0]["text"]["text"]


def test_long_commit_messages_stay_within_slack_limits(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    payload = build("build.finished", "failed")
    payload["build"]["message"] = "x" * 10_000 + "\nsecond line"
    payload["build"]["author"]["name"] = "<!channel> & friends"
    deliver(client_for(), payload)
    (message,) = posts(slack)
    assert len(message["blocks"]) <= 50
    fields = message["blocks"][1]["fields"]
    assert all(len(f["text"]) <= 2000 for f in fields)
    assert fields[1]["text"].endswith("…") and "second line" not in fields[1]["text"]
    assert fields[2]["text"] == "*Author*\n&lt;!channel&gt; &amp; friends"  # no @channel ping


def test_every_channel_a_rule_selects_gets_its_own_message(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    rules = (
        "rules:\n  - name: all\n    slack: '#ci'\n"
        "  - name: failures on main\n    branch: main\n    state: failed\n"
        "    slack: '#builds'\n"
    )
    client = client_for(rules)
    deliver(client, build("build.running", "running"))
    deliver(client, build("build.finished", "failed"))
    deliver(client, job("job-a", ":rspec: Tests"))
    top = [(m["channel"], m["text"]) for m in posts(slack) if "thread_ts" not in m]
    assert top == [
        ("#ci", "Web App #42 running on main"),
        ("#builds", "Web App #42 failed on main"),
    ]
    assert [u["channel"] for u in updates(slack)] == ["C0CI"]
    threads = sorted((m["channel"], m["thread_ts"]) for m in posts(slack) if "thread_ts" in m)
    assert threads == [("C0BUILDS", slack.ts(2)), ("C0CI", slack.ts(1))]


def test_builds_no_rule_selects_are_skipped(
    client_for: Callable[..., FlaskClient], slack: FakeServer, captured_log: CapturedLog
) -> None:
    rules = "rules:\n  - name: main only\n    branch: main\n    slack: '#ci'\n"
    deliver(client_for(rules), build("build.finished", "failed", branch="feature/y"))
    assert slack.requests == []
    assert captured_log.outcomes()[-1]["outcome"] == "skipped"


@pytest.mark.parametrize("env", [{"SLACK_BOT_TOKEN": ""}, {"CIEVENTS_DRY_RUN": "true"}])
def test_dry_run_records_into_the_outbox(
    client_for: Callable[..., FlaskClient], slack: FakeServer, tmp_path: Path, env: dict[str, str]
) -> None:
    client = client_for(**env)
    deliver(client, build("build.scheduled", "scheduled"))
    deliver(client, build("build.finished", "passed"))
    assert slack.requests == []  # nothing sent
    outbox = tmp_path / "outbox" / "slack.jsonl"
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [entry["url"].rsplit("/", 1)[1] for entry in lines] == [
        "chat.postMessage",
        "chat.update",
    ]
    assert lines[0]["body"]["channel"] == "#ci" and lines[0]["sink"] == "slack"
    assert ":large_green_circle:" in lines[1]["body"]["blocks"][0]["text"]["text"]


def test_concurrent_deliveries_still_post_once(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    """Four workers deliver the tripled, shuffled sequence at once; a delivery that
    meets another execution's lock is redelivered, as Pub/Sub would."""
    client = client_for()
    deliveries = [payload for payload in SEQUENCE for _ in range(3)]
    random.Random(7).shuffle(deliveries)
    queue = list(enumerate(deliveries))
    lock = threading.Lock()
    attempts: list[int] = []

    def worker() -> None:
        own = client.application.test_client()
        while True:
            with lock:
                if not queue:
                    return
                index, payload = queue.pop(0)
            status = deliver(own, payload)
            with lock:
                attempts.append(status)
                if status != 200:
                    queue.append((index, payload))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = posts(slack)
    assert len([m for m in messages if "thread_ts" not in m]) == 1
    assert len([m for m in messages if "thread_ts" in m]) == 2
    assert slack.messages[("C0CI", slack.ts(1))]["text"] == "Web App #42 failed on main"
    assert attempts.count(200) == len(deliveries)
