"""A monorepo-wide failure at small scale: nothing lost, nothing doubled, every message settled.

The deployed shape (functions-framework servers sharing one store, a push
subscription with the deployed retry policy, vendor fakes enforcing Slack's and
GitHub's limits: tests/support/burst.py), with 3 instances per function instead
of 10 and time scaled by 10. The full size (1,000 builds, 20 pipelines, 5
channels, 10 instances) runs in ``make bench`` (bench/burst.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cievents import clock
from cievents.notify.digest import Entry, digest_blocks, headline
from cievents.notify.render import BuildSummary
from tests.support.burst import Burst, BurstResult, run_burst


def _crowded_burst(tmp_path: Path) -> BurstResult:
    burst = Burst(
        builds=60,
        pipelines=6,
        channels=3,
        functions=("slack_notify", "github_status"),
        instances=3,
        time_scale=10.0,
        github_writes_per_minute=40,  # so that the 60 statuses must wait for the window
        slack_post_interval_s=3.0,  # slower than Slack, so that 3 instances outrun a channel
    )
    return run_burst(burst, tmp_path)


@pytest.mark.timeout(600)
def test_a_burst_across_pipelines_and_channels_loses_and_doubles_nothing(tmp_path: Path) -> None:
    result = _crowded_burst(tmp_path)
    slack, github = result.functions["slack_notify"], result.functions["github_status"]
    for outcome in (slack, github):
        assert (outcome.lost, outcome.doubled) == (0, 0), outcome.function
        assert (outcome.dead_lettered, outcome.unsettled) == (0, 0), outcome.function
    assert github.refused + github.vendor_calls >= 60


@pytest.mark.timeout(600)
def test_a_crowded_channel_gets_digests(tmp_path: Path) -> None:
    # A channel is crowded when its posts are booked ahead of the threshold, which takes
    # instances posting to it faster than it takes posts: several instances on one channel,
    # and a channel slow beside their work (one post per scaled second, so that this holds
    # on a busy machine too; with as many channels as instances, each instance can keep
    # pace with "its" channel and nothing is booked ahead).
    burst = Burst(
        builds=60,
        pipelines=6,
        channels=1,
        functions=("slack_notify",),
        instances=3,
        time_scale=10.0,
        slack_post_interval_s=10.0,
    )
    slack = run_burst(burst, tmp_path).functions["slack_notify"]
    assert (slack.lost, slack.doubled, slack.dead_lettered, slack.unsettled) == (0, 0, 0, 0)
    # One by one the channel would need 60 posts; digests showed the builds in far fewer.
    assert any(count > 1 for _, count in slack.posts)
    assert len(slack.posts) <= burst.builds // 3, slack.posts


def summary(n: int, branch: str = "main") -> BuildSummary:
    return BuildSummary(
        title=f"web-app #{n}",
        state="failed",
        emoji=":red_circle:",
        color="danger",
        url=f"https://buildkite.com/acme-inc/web-app/builds/{n}",
        pipeline="web-app",
        number=n,
        branch=branch,
        commit="abc1234",
        message="Fix the <rounding> & more",
        author="Jane Doe",
        duration="3m 2s",
    )


def test_digest_headline_links_every_build_within_slack_limits() -> None:
    now = clock.now()
    entries = [Entry(f"b{n}", now - 30, summary(n)) for n in range(37)]
    assert headline(entries, now) == "37 builds failed on main in the last minute"
    text, blocks = digest_blocks(entries, now)
    assert text.startswith("37 builds failed")
    body = "".join(b["text"]["text"] for b in blocks)
    assert all(f"<{e.summary.url}|web-app #{e.summary.number}>" in body for e in entries)
    assert "&lt;rounding&gt; &amp;" in body  # escaped as Slack's mrkdwn wants
    assert len(blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in blocks)
    mixed = [*entries[:2], Entry("r", now - 90, summary(99, "release"))]
    assert headline(mixed, now) == "3 builds failed in the last 1m30s (main: 2, release: 1)"


def test_a_digest_whose_answer_is_lost_is_found_not_posted_again() -> None:
    from cievents.errors import TransientError
    from cievents.idempotency.memory import MemoryStore
    from cievents.notify.digest import Digests
    from cievents.notify.slack import SlackClient
    from cievents.ratelimit import Budget
    from tests.support.fakehttp import FAULTS
    from tests.support.fakes.slack import TOKEN, slack_server

    store = MemoryStore()
    with slack_server() as fake:
        slack = SlackClient(
            TOKEN, base_url=f"{fake.url}/api/", min_interval_s=0.01, budget=Budget(store)
        )
        digests = Digests(store, slack)
        for n in range(5):
            assert digests.add("#builds", f"b{n}", summary(n))
        fake.fault("POST", "/api/chat.postMessage", FAULTS["commit_then_drop"])
        with pytest.raises(TransientError):
            digests.flush("#builds")  # Slack has the digest; we never heard back
        assert digests.flush("#builds") == 5  # the redelivery finds it in the history
        top = [c for c in fake.committed("post") if not c.get("thread_ts")]
        assert len(top) == 1
        assert all(digests.shown("#builds", f"b{n}") == top[0]["ts"] for n in range(5))
        assert digests.pending("#builds") == []
