"""The same events in any order and any multiplicity give the same final effects.

Pub/Sub does not order deliveries. A small day on one feature branch (routed by
``changed: true``: first failure and recovery only) and on main (every build), with a
failed job, a late ``build.running`` and redeliveries, is delivered in a few hundred
orders to slack_notify and teams_notify, served as deployed (HTTP signature) with the
real clients against the Slack and Teams fakes. The final effects per sink, normalized
(what each channel shows, with its thread; every card each destination holds), are
compared with those of the natural order: equal, not just equal in number, for Slack.

Teams cannot take a card back (a Workflows webhook has no delete), so when a late earlier
build shows that a card sent as news was not news (#4815 failed arrived before #4814
failed), the card stays: for Teams every card of the natural order is sent exactly once,
and an extra card is only ever such a build's, sent once.

Each order runs on its own pipeline (so one store and one pair of fakes serve all of
them), and the pipeline's name is taken out of the text before comparing.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.notify.events import BUILD, JOB, push_body
from tests.support.apps import function_client
from tests.support.fakehttp import FakeServer
from tests.support.fakes.slack import TOKEN, SlackFake, slack_server
from tests.support.fakes.teams import teams_server

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 200
ROUTES = """rules:
  - name: main, every build
    source: buildkite
    branch: main
    slack: '#builds'
  - name: first failure and recovery
    source: buildkite
    event: build.finished
    state: [failed, passed, canceled]
    changed: true
    slack: '#ci'
    teams: default
"""
FEATURE = "feature/cart"


def build(pipeline: str, number: int, state: str, branch: str = FEATURE) -> dict[str, Any]:
    body = copy.deepcopy(BUILD)
    body["event"] = "build.running" if state == "running" else "build.finished"
    body["pipeline"].update(slug=pipeline, name=pipeline)
    body["build"].update(
        state=state,
        branch=branch,
        number=number,
        id=f"{pipeline}-{number}",
        web_url=f"https://buildkite.com/acme-inc/{pipeline}/builds/{number}",
    )
    if state == "running":
        body["build"]["finished_at"] = None
    return body


def failed_job(pipeline: str, number: int, branch: str = FEATURE) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    body["pipeline"].update(slug=pipeline, name=pipeline)
    body["job"].update(id=f"{pipeline}-{number}-tests", name=":rspec: Tests", exit_status=1)
    body["build"].update(branch=branch, number=number, id=f"{pipeline}-{number}")
    return body


def day(pipeline: str) -> list[dict[str, Any]]:
    """In the events' own order: fail, recover, fail, fail again, recover; main red then green."""
    return [
        build(pipeline, 4811, "passed"),
        build(pipeline, 4812, "failed"),
        failed_job(pipeline, 4812),
        build(pipeline, 4813, "passed"),
        build(pipeline, 4814, "failed"),
        build(pipeline, 4815, "failed"),
        build(pipeline, 4816, "running"),  # arrives late in many orders: never moves it back
        build(pipeline, 4816, "passed"),
        build(pipeline, 4817, "failed", branch="main"),
        failed_job(pipeline, 4817, branch="main"),
        build(pipeline, 4818, "passed", branch="main"),
    ]


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[SlackFake, FakeServer]]:
    slack, teams = slack_server(), teams_server()
    with slack, teams:
        yield slack, teams


@pytest.fixture
def functions(
    fakes: tuple[SlackFake, FakeServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[FlaskClient]:
    slack, teams = fakes
    routes = tmp_path / "routing.yaml"
    routes.write_text(ROUTES)
    env = {
        "CIEVENTS_ROUTING_FILE": str(routes),
        "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": f"{slack.url}/api/",
        "SLACK_MIN_POST_INTERVAL_S": "0",
        "SLACK_DIGEST_AFTER_S": "1000",
        "TEAMS_WEBHOOK_URL": f"{teams.url}/workflows/ci",
    }
    return [
        function_client(
            monkeypatch, str(ROOT / "functions" / name / "main.py"), env, signature_type="http"
        )
        for name in ("slack_notify", "teams_notify")
    ]


def deliver(clients: list[FlaskClient], plan: list[tuple[str, dict[str, Any]]]) -> None:
    """Each delivery to every function until acked, as a push subscription would."""
    for message_id, payload in plan:
        for client in clients:
            for _attempt in range(5):
                status = client.post("/", json=push_body(payload, message_id)).status_code
                if status < 500:
                    break
            assert status in (200, 204), (message_id, payload["event"])


def slack_effects(slack: SlackFake, pipeline: str) -> Counter[str]:
    """What each channel shows for ``pipeline``: every message, with its thread's replies."""
    shown: Counter[str] = Counter()
    messages = dict(slack.messages)
    for (channel, ts), body in messages.items():
        if body.get("thread_ts") or pipeline not in json.dumps(body):
            continue
        replies = sorted(
            str(b.get("text"))
            for (c, _), b in messages.items()
            if c == channel and b.get("thread_ts") == ts
        )
        shown[json.dumps([channel, body.get("text"), body.get("blocks"), replies])] += 1
    return Counter({k.replace(pipeline, "P"): v for k, v in shown.items()})


def teams_effects(teams: FakeServer, pipeline: str) -> Counter[str]:
    cards = [r.body.decode() for r in teams.calls("POST", "/workflows/.*")]
    return Counter(c.replace(pipeline, "P") for c in cards if pipeline in c)


def test_every_order_and_multiplicity_gives_the_natural_orders_effects(
    functions: list[FlaskClient], fakes: tuple[SlackFake, FakeServer]
) -> None:
    slack, teams = fakes
    natural = "natural"
    deliver(functions, [(f"{natural}-{i}", p) for i, p in enumerate(day(natural))])
    expected_slack, expected_teams = slack_effects(slack, natural), teams_effects(teams, natural)
    # The natural order itself: #4812 (first failure), #4813 (recovery), #4814 (failure),
    # #4816 (recovery), and on main #4817 (first failure) and #4818 (recovery) in #ci and
    # Teams; #4817 (with its failed job) and #4818 in #builds too.
    assert sum(expected_teams.values()) == 6
    assert sum(expected_slack.values()) == 8
    assert all(v == 1 for v in [*expected_slack.values(), *expected_teams.values()])
    differing = []
    for seed in range(ORDERS):
        pipeline = f"p{seed}"
        rng = random.Random(seed)
        plan = [
            (f"{pipeline}-{i}", payload)
            for i, payload in enumerate(day(pipeline))
            for _ in range(rng.randint(1, 3))  # a redelivery keeps the message id
        ]
        rng.shuffle(plan)
        deliver(functions, plan)
        got_slack, got_teams = slack_effects(slack, pipeline), teams_effects(teams, pipeline)
        if got_slack != expected_slack:
            differing.append(seed)
        extra = got_teams - expected_teams
        assert got_teams & expected_teams == expected_teams, seed  # none lost
        assert set(got_teams.values()) == {1}, seed  # none doubled
        assert all("4815" in card or "4813" in card for card in extra), (seed, extra)
    assert not differing, f"{len(differing)} of {ORDERS} orders differ, e.g. seed {differing[:5]}"


def test_a_recovery_before_its_failure_is_announced_when_the_failure_arrives(
    functions: list[FlaskClient], fakes: tuple[SlackFake, FakeServer]
) -> None:
    slack, teams = fakes
    counter = itertools.count()
    pipeline = "recovery-first"
    deliver(functions, [(f"r{next(counter)}", build(pipeline, 4813, "passed"))])
    assert not slack_effects(slack, pipeline) and not teams_effects(teams, pipeline)
    deliver(functions, [(f"r{next(counter)}", build(pipeline, 4812, "failed"))])
    titles = sorted(
        str(b.get("text")) for b in slack.messages.values() if pipeline in json.dumps(b)
    )
    assert len(titles) == 2 and "#4812" in titles[0] and "#4813" in titles[1], titles
    assert sum(teams_effects(teams, pipeline).values()) == 2
