"""cievents.notify.slack.SlackClient: the real slack_sdk client, our rate-limit and error policy.

Time is a fake clock whose ``sleep`` advances it, so the waits the client
chooses are asserted exactly and no test sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cievents.errors import RateLimitedError, RejectedError, UnknownTargetError
from cievents.notify.slack import SlackClient
from cievents.outbox import Outbox
from tests.support.fakehttp import Reply
from tests.support.fakes.slack import TOKEN, SlackFake, slack_server

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    server = slack_server()
    with server:
        yield server


def client(slack: SlackFake, clock: Clock, **options: float) -> SlackClient:
    return SlackClient(
        TOKEN, base_url=f"{slack.url}/api/", sleep=clock.sleep, clock=clock, **options
    )


def ratelimited(seconds: str) -> Reply:
    return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": seconds})


def test_post_returns_the_channel_id_that_updates_need(slack: SlackFake) -> None:
    clock = Clock()
    slack_client = client(slack, clock)
    channel_id, ts = slack_client.post("#ci", "hello", BLOCKS)
    assert (channel_id, ts) == ("C0CI", slack.ts(1))
    slack_client.update(channel_id, ts, "bye", BLOCKS)
    assert slack.messages[("C0CI", ts)]["text"] == "bye"
    with pytest.raises(UnknownTargetError, match="channel_not_found"):
        slack_client.update("#ci", ts, "bye", BLOCKS)  # a name is not enough for chat.update
    (sent,) = [r.json() for r in slack.calls("POST", "/api/chat.postMessage")]
    assert sent == {"channel": "#ci", "text": "hello", "blocks": BLOCKS, "unfurl_links": False}


def test_posts_to_one_channel_are_spaced_one_interval_apart(slack: SlackFake) -> None:
    clock = Clock()
    slack_client = client(slack, clock, min_interval_s=1.0)
    slack_client.post("#ci", "one", BLOCKS)
    slack_client.post("#builds", "other channel: no wait", BLOCKS)
    slack_client.post("#ci", "two", BLOCKS)
    clock.now += 5
    slack_client.post("#ci", "three, long after", BLOCKS)
    assert clock.slept == [1.0]


def test_a_short_retry_after_is_waited_once_in_call(slack: SlackFake) -> None:
    clock = Clock()
    slack.queue("POST", "/api/chat.postMessage", ratelimited("2"))
    slack_client = client(slack, clock, max_inline_wait_s=2.0)
    assert slack_client.post("#ci", "hello", BLOCKS)[0] == "C0CI"
    assert clock.slept == [2.0]
    assert len(slack.calls("POST", "/api/chat.postMessage")) == 2


def test_a_second_429_is_raised_not_waited_again(slack: SlackFake) -> None:
    clock = Clock()
    slack.queue("POST", "/api/chat.postMessage", ratelimited("1"))
    slack.queue("POST", "/api/chat.postMessage", ratelimited("1"))
    with pytest.raises(RateLimitedError) as raised:
        client(slack, clock).post("#ci", "hello", BLOCKS)
    assert raised.value.retry_after == 1.0 and clock.slept == [1.0]


def test_a_long_retry_after_is_left_to_pubsub_and_cools_the_channel(slack: SlackFake) -> None:
    clock = Clock()
    slack.queue("POST", "/api/chat.postMessage", ratelimited("30"))
    slack_client = client(slack, clock)
    with pytest.raises(RateLimitedError, match="Slack asks to wait 30 s") as raised:
        slack_client.post("#ci", "hello", BLOCKS)
    assert raised.value.retry_after == 30.0 and clock.slept == []
    clock.now += 10
    with pytest.raises(RateLimitedError, match="rate limited for 20 s more"):
        slack_client.post("#ci", "again", BLOCKS)
    slack_client.post("#builds", "another channel is not limited", BLOCKS)
    clock.now += 20
    slack_client.post("#ci", "after the wait", BLOCKS)
    assert [r.json()["text"] for r in slack.calls("POST", "/api/chat.postMessage")] == [
        "hello",
        "another channel is not limited",
        "after the wait",
    ]


def test_error_bodies_are_classified(slack: SlackFake) -> None:
    slack_client = client(slack, Clock())
    slack.queue("POST", "/api/chat.postMessage", Reply(200, {"ok": False, "error": "is_archived"}))
    with pytest.raises(UnknownTargetError, match="archived"):
        slack_client.post("#ci", "x", BLOCKS)
    slack.queue(
        "POST", "/api/chat.postMessage", Reply(200, {"ok": False, "error": "something_new"})
    )
    with pytest.raises(RejectedError, match="something_new"):
        slack_client.post("#ci", "x", BLOCKS)
    bad_token = SlackClient("xoxb-wrong", base_url=f"{slack.url}/api/", min_interval_s=0)
    with pytest.raises(RejectedError, match="SLACK_BOT_TOKEN is invalid") as raised:
        bad_token.post("#ci", "x", BLOCKS)
    assert "xoxb-wrong" not in str(raised.value)


def test_users_lookup_by_email_is_cached_case_insensitively(slack: SlackFake) -> None:
    slack_client = client(slack, Clock())
    assert slack_client.user_for_email("jane@acme.example") == "U0JANE"
    assert slack_client.user_for_email("Jane@ACME.example") == "U0JANE"
    assert slack_client.user_for_email("ghost@acme.example") is None
    assert slack_client.user_for_email("ghost@acme.example") is None
    lookups = slack.calls(pattern="/api/users.lookupByEmail")
    assert len(lookups) == 2
    assert all("json" not in r.headers.get("content-type", "") for r in lookups)


def test_dry_run_records_requests_and_synthesizes_a_ts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    slack_client = SlackClient(None, outbox=outbox)
    channel, ts = slack_client.post("#ci", "hello", BLOCKS)
    slack_client.update(channel, ts, "bye", BLOCKS)
    slack_client.post(channel, "reply", BLOCKS, thread_ts=ts)
    assert slack_client.user_for_email("jane@acme.example") is None  # no lookups in dry run
    recorded = outbox.read("slack")
    assert [e["url"].rsplit("/", 1)[1] for e in recorded] == [
        "chat.postMessage",
        "chat.update",
        "chat.postMessage",
    ]
    assert recorded[1]["body"]["ts"] == ts and recorded[2]["body"]["thread_ts"] == ts
