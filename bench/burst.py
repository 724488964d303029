"""A burst that ends well: failed builds by the hundred, vendor-limited fakes, the deployed retry policy.

Each scenario runs the functions as function.yaml deploys them (``max_instances``
functions-framework servers, concurrency 1, one shared store) behind a push
subscription with the deployed retry policy (10–600 s exponential backoff, dead
letter after 10 attempts), against fakes that enforce the vendors' limits: Slack
one post a second per channel (short bursts of two), GitHub 80
content-creating writes a minute, refused beyond with secondary-limit 403s and
``retry-after`` (tests/support/burst.py, tests/support/pushsim.py).

Time is scaled: vendor windows, retry backoffs and the functions' own
durations are divided by the scale and every figure below is multiplied back,
so it reads in vendor seconds. The functions' work (parsing, store, HTTP) is
not scaled, so it counts scale times over: the figures are an upper bound of
the real ones, and coalescing, which depends on how fast instances outrun a
channel, shows less than it would. Scales: 2 for the Slack burst, 10 for the
GitHub burst (its window is minutes; the work is negligible beside it), 5 for
the full size; ``BENCH_BURST_TIME_SCALE`` sets one scale for all. Store: one sqlite file shared by
the instances (the deployed Firestore keeps the same budget and digests through
the same contract: tests/unit/test_idempotency_contract.py).

Scenarios (issue 17): 200 failed builds in 2 s to one channel (slack_notify);
the same 200 as GitHub commit statuses (github_status); and the full size,
1,000 builds across 20 pipelines and 5 channels, both functions at once.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.summary import record
from bench.table import render
from tests.support.burst import Burst, BurstResult, FunctionResult, run_burst

SCALE = os.environ.get("BENCH_BURST_TIME_SCALE")
SLACK_GOAL_S = 60.0
GITHUB_GOAL_RATIO = 1.1
DELIVERY_GOAL = 1.2


def _floor_s(outcome: FunctionResult, burst: Burst) -> float:
    """What the vendor's limit alone allows: one post a second per channel for every
    build shown one by one; the write budget for every status."""
    if outcome.function == "slack_notify":
        return outcome.events / burst.channels * burst.slack_post_interval_s
    return outcome.events / burst.github_writes_per_minute * 60.0


def _row(label: str, result: BurstResult) -> list[list[object]]:
    rows = []
    for outcome in result.functions.values():
        visible = sorted(outcome.visible_s.values())
        posts = len(outcome.posts) if outcome.function == "slack_notify" else outcome.vendor_calls
        rows.append(
            [
                label,
                f"{result.burst.time_scale:g}",
                outcome.function,
                outcome.events,
                round(outcome.complete_s, 1) if outcome.complete_s is not None else "never",
                round(statistics.median(visible), 1) if visible else "-",
                round(_floor_s(outcome, result.burst), 1),
                f"{outcome.pushes / outcome.events:.2f}",
                posts,
                outcome.refused,
                outcome.lost,
                outcome.doubled,
                outcome.dead_lettered,
            ]
        )
    return rows


def main(argv: list[str]) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    scenarios = [
        (
            "200 failed builds in 2 s, one channel",
            Burst(builds=200, pipelines=10, channels=1, functions=("slack_notify",), time_scale=2),
        ),
        (
            "200 failed builds in 2 s, GitHub statuses",
            Burst(
                builds=200, pipelines=10, channels=1, functions=("github_status",), time_scale=10
            ),
        ),
        (
            "1,000 builds, 20 pipelines, 5 channels",
            Burst(
                builds=1000,
                pipelines=20,
                channels=5,
                spread_s=10.0,
                functions=("slack_notify", "github_status"),
                time_scale=5,
            ),
        ),
    ]
    rows: list[list[object]] = []
    results = {}
    if SCALE:
        scenarios = [(label, replace(b, time_scale=float(SCALE))) for label, b in scenarios]
    for n, (label, burst) in enumerate(scenarios):
        result = run_burst(burst, workdir / str(n))
        results[label] = result
        rows += _row(label, result)
    print(
        "figures in vendor seconds (time scale beside each row); instances per function as "
        "function.yaml deploys them; shown = top-level Slack messages linking the build, "
        "or accepted failure statuses\n"
    )
    print(
        render(
            [
                "burst",
                "time scale",
                "function",
                "builds",
                "all shown after s",
                "median shown after s",
                "floor s (vendor limit alone)",
                "deliveries / event",
                "top-level posts / writes",
                "vendor 429/403",
                "lost",
                "doubled",
                "dead-lettered",
            ],
            rows,
        )
    )
    slack = results[scenarios[0][0]].functions["slack_notify"]
    record(
        "burst: 200 failed builds in 2 s to one channel, 10 slack_notify instances, "
        "Slack 1 post/s per channel",
        f"{slack.events - slack.lost}/{slack.events} shown after "
        f"{slack.complete_s or float('nan'):.0f} s in {len(slack.posts)} posts, "
        f"{slack.refused} answers of 429, {slack.doubled} doubled",
        f"{_floor_s(slack, scenarios[0][1]):.0f} s one by one at 1 post/s",
        f"every build visible within {SLACK_GOAL_S:.0f} s, none lost or doubled",
        slack.complete_s is not None
        and slack.complete_s <= SLACK_GOAL_S
        and slack.lost == slack.doubled == 0,
    )
    github = results[scenarios[1][0]].functions["github_status"]
    floor = _floor_s(github, scenarios[1][1])
    record(
        "same, GitHub statuses at 80 writes/min",
        f"{github.events - github.lost}/{github.events} by {github.complete_s or float('nan'):.0f} s,"
        f" {github.pushes} deliveries ({github.refused} refused 403)",
        f"{floor:.0f} s at 80/min",
        f"≤ {GITHUB_GOAL_RATIO}× the floor, deliveries ≤ {DELIVERY_GOAL}× events",
        github.complete_s is not None
        and github.complete_s <= GITHUB_GOAL_RATIO * floor
        and github.pushes <= DELIVERY_GOAL * github.events
        and github.lost == github.doubled == 0,
    )
    full = results[scenarios[2][0]]
    lost = sum(f.lost for f in full.functions.values())
    doubled = sum(f.doubled for f in full.functions.values())
    record(
        "1,000-build burst across 20 pipelines and 5 channels (slack_notify + github_status)",
        "; ".join(
            f"{f.function}: {f.events - f.lost}/{f.events} by {f.complete_s or float('nan'):.0f} s,"
            f" {f.lost} lost, {f.doubled} doubled"
            for f in full.functions.values()
        ),
        "; ".join(
            f"{f.function} {_floor_s(f, scenarios[2][1]):.0f} s" for f in full.functions.values()
        ),
        "nothing lost, nothing doubled",
        lost == doubled == 0 and all(f.dead_lettered == 0 for f in full.functions.values()),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main([]))
