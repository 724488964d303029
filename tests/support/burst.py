"""A monorepo-wide failure, end to end: N failed builds in seconds, through the deployed shape.

Each function runs as ``max_instances`` functions-framework servers (one process
each, concurrency 1, as function.yaml deploys them) sharing one store, behind a
push subscription with the deployed retry policy (tests/support/pushsim.py),
calling vendor fakes that enforce the vendors' limits: Slack one post a second
per channel (tests/support/fakes/slack.py), GitHub 80 content-creating writes a
minute with secondary-limit 403s (tests/support/fakes/github.py).

Time is scaled by ``time_scale``: every vendor window, retry backoff and the
functions' own durations (post spacing, in-call waits, digest threshold) are
divided by it; the figures are reported multiplied back, in vendor seconds.
The functions' own work (parsing, store, HTTP) is not scaled, so the scaled run
is if anything harder than the real one.

Effects are counted at the fakes: a build is *shown* by every top-level Slack
message that links it, and *set* by every accepted commit status; lost means
none, doubled means more than one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.support.emulators import free_port, stop_process_group, wait_for_port
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.slack import TOKEN as SLACK_TOKEN
from tests.support.fakes.slack import SlackFake, slack_server
from tests.support.pushsim import PushSubscription

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/own/buildkite/build.finished.failed.json"
GITHUB_TOKEN = "gh-burst-token-not-real"

__all__ = ["Burst", "BurstResult", "run_burst"]


@dataclass(frozen=True)
class Burst:
    builds: int = 200
    pipelines: int = 10
    channels: int = 1
    spread_s: float = 2.0  # vendor seconds over which the builds fail
    functions: tuple[str, ...] = ("slack_notify",)
    time_scale: float = 10.0
    instances: int | None = None  # default: the manifest's max_instances
    slack_post_interval_s: float = 1.0
    github_writes_per_minute: int = 80
    timeout_s: float = 1800.0  # vendor seconds the burst may take before it is called stuck


@dataclass
class FunctionResult:
    function: str
    events: int
    pushes: int
    dead_lettered: int
    unsettled: int
    shown: dict[str, int] = field(default_factory=dict)  # build url → effects
    visible_s: dict[str, float] = field(default_factory=dict)  # build url → s after publish
    refused: int = 0  # vendor's rate-limit answers
    vendor_calls: int = 0
    complete_s: float | None = None
    posts: list[tuple[float, int]] = field(default_factory=list)  # (s after publish, builds)

    @property
    def lost(self) -> int:
        return sum(1 for n in self.shown.values() if n == 0)

    @property
    def doubled(self) -> int:
        return sum(1 for n in self.shown.values() if n > 1)


@dataclass
class BurstResult:
    burst: Burst
    functions: dict[str, FunctionResult]


def _channels(n: int) -> dict[str, str]:
    return {f"#burst-{i + 1}": f"CBURST{i + 1}" for i in range(n)}


def _events(burst: Burst) -> list[tuple[str, str, bytes]]:
    """(build url, commit, body) of every failed build, on ``main`` of its pipeline."""
    template = json.loads(FIXTURE.read_text())
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    out = []
    for i in range(burst.builds):
        slug = f"mono-{i % burst.pipelines + 1:02d}"
        number = 1000 + i // burst.pipelines
        body = json.loads(json.dumps(template))
        build = body["build"]
        build.update(
            id=str(uuid.uuid4()),
            number=number,
            branch="main",
            commit=uuid.uuid4().hex + uuid.uuid4().hex[:8],
            web_url=f"https://buildkite.com/acme-inc/{slug}/builds/{number}",
            url=f"https://api.buildkite.com/v2/organizations/acme-inc/pipelines/{slug}/builds/{number}",
            finished_at=now,
            source="webhook",
        )
        body["pipeline"].update(
            slug=slug, name=slug, repository=f"git@github.com:acme-inc/{slug}.git"
        )
        out.append((build["web_url"], build["commit"], json.dumps(body).encode()))
    return out


def _routing(path: Path, burst: Burst) -> None:
    names = list(_channels(burst.channels))
    rules = [
        {
            "name": f"pipelines of {channel}",
            "source": "buildkite",
            "pipeline": [
                f"mono-{p + 1:02d}" for p in range(burst.pipelines) if p % len(names) == i
            ],
            "slack": channel,
        }
        for i, channel in enumerate(names)
    ]
    path.write_text(yaml.safe_dump({"rules": rules}))


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "function.yaml").read_text())
    return loaded


@contextmanager
def _instances(function: str, count: int, env: dict[str, str], logs: Path) -> Iterator[list[str]]:
    from bench.serving import spawn

    procs = []
    urls = []
    try:
        for n in range(count):
            port = free_port()
            procs.append(spawn(function, port, env, log_path=str(logs / f"{function}-{n}.log")))
            urls.append(f"http://127.0.0.1:{port}/")
        for proc, url in zip(procs, urls, strict=True):
            wait_for_port(int(url.rsplit(":", 1)[1].strip("/")), 120, proc)
        yield urls
    finally:
        for proc in procs:
            stop_process_group(proc)


def _slack_effects(
    fake: SlackFake, urls: list[str], published: float, scale: float
) -> tuple[dict[str, int], dict[str, float], list[tuple[float, int]]]:
    shown = dict.fromkeys(urls, 0)
    visible: dict[str, float] = {}
    posts: list[tuple[float, int]] = []
    for key, body in list(fake.messages.items()):
        if body.get("thread_ts"):
            continue
        text = json.dumps(body.get("blocks") or []) + str(body.get("text") or "")
        at = (fake.posted_at[key] - published) * scale
        linked = [url for url in urls if url in text]
        for url in linked:
            shown[url] += 1
            visible[url] = min(visible.get(url, at), at)
        posts.append((at, len(linked)))
    return shown, visible, sorted(posts)


def run_burst(burst: Burst, workdir: Path) -> BurstResult:
    """Run the burst; returns what each function did, in vendor seconds."""
    scale = burst.time_scale
    manifest = _manifest()
    events = _events(burst)
    channels = _channels(burst.channels)
    workdir.mkdir(parents=True, exist_ok=True)
    routing = workdir / "routing.yaml"
    _routing(routing, burst)
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    defaults = manifest.get("defaults", {})
    results: dict[str, FunctionResult] = {}
    with ExitStack() as stack:
        slack = stack.enter_context(
            slack_server(post_interval_s=burst.slack_post_interval_s / scale, channels=channels)
        )
        github = stack.enter_context(
            FakeGitHub(
                tokens=(GITHUB_TOKEN,),
                writes_per_window=burst.github_writes_per_minute,
                window_s=60.0 / scale,
            )
        )
        env = {
            "CIEVENTS_STORE": f"sqlite:{workdir / 'state.sqlite3'}",
            "CIEVENTS_ROUTING_FILE": str(routing),
            "CIEVENTS_BUDGET_MAX_WAIT_S": str(10.0 / scale),
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": f"{slack.url}/api/",
            "SLACK_MIN_POST_INTERVAL_S": str(burst.slack_post_interval_s / scale),
            "SLACK_MAX_INLINE_WAIT_S": str(2.0 / scale),
            "SLACK_DIGEST_AFTER_S": str(2.0 / scale),
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": github.url,
            "GITHUB_WRITES_PER_MINUTE": str(int(burst.github_writes_per_minute * scale)),
            "CIEVENTS_OUTBOX": str(workdir / "outbox"),
            "PYTHONUNBUFFERED": "1",
        }
        subscriptions: dict[str, PushSubscription] = {}
        for function in burst.functions:
            spec = manifest["functions"][function]
            count = burst.instances or int(spec.get("max_instances", defaults["max_instances"]))
            urls = stack.enter_context(_instances(function, count, env, logs))
            subscription = PushSubscription(
                function,
                urls,
                max_attempts=int(
                    spec.get("max_delivery_attempts", defaults["max_delivery_attempts"])
                ),
                timeout_s=float(spec.get("timeout", defaults["timeout"])),
                time_scale=scale,
            )
            subscriptions[function] = subscription.start()
            stack.callback(subscription.stop)
        start = time.monotonic() + 0.2
        for i, (_url, _commit, body) in enumerate(events):
            at = start + (i / max(1, len(events))) * burst.spread_s / scale
            attributes = {
                "source": "buildkite",
                "event": "build.finished",
                "delivery_id": str(uuid.uuid4()),
                "pipeline": json.loads(body)["pipeline"]["slug"],
                "branch": "main",
                "state": "failed",
            }
            for subscription in subscriptions.values():
                subscription.publish(body, attributes, at=at)
        for subscription in subscriptions.values():
            subscription.wait_settled(burst.timeout_s / scale)
        urls = [e[0] for e in events]
        for function, subscription in subscriptions.items():
            result = FunctionResult(
                function,
                events=len(events),
                pushes=subscription.pushes(),
                dead_lettered=subscription.dead_lettered(),
                unsettled=sum(
                    1
                    for d in subscription.deliveries.values()
                    if d.acked_at is None and not d.dead_lettered
                ),
            )
            if function == "slack_notify":
                result.shown, result.visible_s, result.posts = _slack_effects(
                    slack, urls, start, scale
                )
                result.refused = slack.refused
                result.vendor_calls = len(slack.calls("POST", "/api/chat.postMessage"))
            elif function == "github_status":
                by_commit = {commit: url for url, commit, _ in events}
                result.shown = dict.fromkeys(urls, 0)
                for status in list(github.statuses):
                    url = by_commit.get(status["sha"])
                    if url is not None and status["state"] == "failure":
                        result.shown[url] += 1
                        at = (status["at"] - start) * scale
                        result.visible_s[url] = min(result.visible_s.get(url, at), at)
                result.refused = github.refused
                result.vendor_calls = len(github.calls("POST"))
            if result.visible_s and not result.lost:
                result.complete_s = max(result.visible_s.values())
            results[function] = result
    return BurstResult(burst, results)
