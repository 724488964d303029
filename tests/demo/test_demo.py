"""The demo end to end on a small event set: real processes, the emulator (or the bus)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cievents.demo.filters import FilterError, compile_filter
from cievents.demo.runner import Options, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "events"
SMALL = [
    "1000-web-app-102-scheduled",
    "1003-web-app-102-job-preview",
    "1004-web-app-102-job-tests",
    "1005-web-app-102-failed",
    "1030-github-push",
    "1036-web-app-103-passed",
    "1700-jira-SEC-1-done",  # the finding's work item closed: the finding is resolved
]


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("events")
    for name in SMALL:
        for path in EXAMPLES.glob(f"{name}.*"):
            shutil.copy(path, folder / path.name)
    return folder


def effects(out: Path) -> dict[str, object]:
    """The side effects, independent of delivery order: what was created, and final states."""
    outbox = out / "outbox"
    slack = [json.loads(line) for line in (outbox / "slack.jsonl").read_text().splitlines()]
    posts = Counter(
        (e["body"]["channel"], e["body"]["text"])
        for e in slack
        if e["url"].endswith("chat.postMessage") and e["body"].get("thread_ts")
    )
    tops = Counter(
        (e["body"]["channel"], e["body"]["text"].split(" ")[2])
        for e in slack
        if e["url"].endswith("chat.postMessage")
        and not e["body"].get("thread_ts")
        and e["body"]["channel"] != "#security"
    )
    alerts = [e["body"]["text"] for e in slack if e["body"].get("channel") == "#security"]
    statuses: dict[str, str] = {}
    for line in (outbox / "github.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "/statuses/" in entry["url"]:
            # Keyed by path: each run serves its fake SCM on a port of its own.
            statuses[urlsplit(entry["url"]).path] = entry["body"]["state"]
    jira = sorted(
        json.loads(line)["url"] for line in (outbox / "jira.jsonl").read_text().splitlines()
    )
    archive = Counter(str(p.parent.relative_to(out)) for p in (out / "archive").rglob("*.json"))
    cards = Counter(
        next(b["text"] for b in a["content"]["body"] if b.get("type") == "TextBlock")
        for line in (outbox / "teams.jsonl").read_text().splitlines()
        for a in json.loads(line)["body"]["attachments"]
    )
    with sqlite3.connect(out / "state.sqlite3") as db:
        states = db.execute("SELECT key, value FROM states WHERE key LIKE 'finding:%'").fetchall()
    findings = sorted(json.loads(value).get("status") for _, value in states)
    return {
        "slack_top": tops,
        "slack_threads": posts,
        "statuses": statuses,
        "jira": jira,
        "archive": archive,
        "security_alerts": sorted(alerts),
        "teams": cards,
        "findings": findings,
    }


ORDER_DEPENDENT = ("slack_top", "slack_threads", "statuses", "jira", "archive", "teams", "findings")


@pytest.mark.slow
@pytest.mark.parametrize(
    "emulator",
    [pytest.param(True, marks=pytest.mark.java_emulator), False],
    ids=["pubsub-emulator", "built-in-bus"],
)
def test_demo_once_and_three_times_shuffled_have_the_same_effects(
    events: Path, tmp_path: Path, emulator: bool
) -> None:
    once = run(Options(root=ROOT, events=events, out=tmp_path / "once", use_emulator=emulator))
    if emulator and once.bus == "built-in bus":
        pytest.skip("the Pub/Sub emulator is not installed")
    thrice = run(
        Options(
            root=ROOT,
            events=events,
            out=tmp_path / "thrice",
            times=3,
            shuffle=True,
            seed=11,
            use_emulator=emulator,
        )
    )
    assert once.dead_letters == thrice.dead_letters == 0
    assert once.ingest["published"] == len(SMALL) and thrice.ingest["duplicate"] == 2 * len(SMALL)
    for name in ("slack_notify", "github_status", "jira_update", "gcs_archive", "teams_notify"):
        assert once.functions[name].get("failed", 0) == 0, (name, once.functions[name])
        assert once.functions[name].get("acted", 0) > 0 or name == "teams_notify"
        repeats = thrice.functions[name].get("duplicate", 0) + thrice.functions[name].get(
            "skipped", 0
        )
        assert repeats > once.functions[name].get("skipped", 0), (name, thrice.functions[name])
    first, second = effects(tmp_path / "once"), effects(tmp_path / "thrice")
    # The effects are identical (history is decided by the events' own order, not arrival);
    # no effect is ever duplicated.
    for kind in (*ORDER_DEPENDENT, "security_alerts"):
        assert first[kind] == second[kind], kind
    for effects_of_run in (first, second):
        assert set(effects_of_run["slack_top"].values()) == {1}  # type: ignore[union-attr]
        assert set(effects_of_run["slack_threads"].values()) == {1}  # type: ignore[union-attr]
    # In publish order, the failure and the recovery on the branch each get their message.
    assert first["slack_top"] == Counter({("#builds", "#102"): 1, ("#builds", "#103"): 1})
    assert len(first["slack_threads"]) == 2  # type: ignore[arg-type]
    # The example job log leaks a credential: one security alert, however often it is delivered.
    assert len(first["security_alerts"]) == 1  # type: ignore[arg-type]
    assert "leaked credential" in first["security_alerts"][0]  # type: ignore[index]
    assert sorted(first["statuses"].values()) == ["failure", "success"]  # type: ignore[union-attr]
    # Teams gets the first failure and the recovery; the work item's Done resolves the finding.
    assert first["teams"] == Counter({"Web App #102 failed": 1, "Web App #103 passed": 1})
    assert "resolved" in first["findings"]  # type: ignore[operator]
    page = (tmp_path / "once" / "outbox" / "index.html").read_text()
    # Every sink the run wrote to is rendered as its product shows it, none as raw JSON.
    written = {p.stem for p in (tmp_path / "once" / "outbox").glob("*.jsonl")}
    shown = dict(
        re.findall(r'<li class="entry" id="e\d+" data-sink="([^"]+)" data-kind="([^"]+)"', page)
    )
    assert written and set(shown) == written, (written, shown)
    assert "request" not in re.findall(r'data-kind="([^"]+)"', page)
    for build in ("web-app #102", "web-app #103"):  # one timeline per build
        assert f'<section class="build" data-build="{build}">' in page, build
    summary = json.loads((tmp_path / "once" / "summary.json").read_text())
    assert summary["events"] == len(SMALL)
    # repo_inventory listed the example organization (three pages) on the scheduler tick.
    for run_ in (once, thrice):
        assert run_.inventory == {"active": 6, "archived": 1, "empty": 1}, run_.inventory
        assert run_.functions["repo_inventory"].get("failed", 0) == 0
    listed = (tmp_path / "once" / "inventory.txt").read_text()
    assert "acme-inc/legacy-billing" in listed and "archived" in listed
    # Its audit found the example's two posture gaps; each became one work item, however
    # often the tick and the webhooks were delivered.
    for folder in ("once", "thrice"):
        items = [
            json.loads(line)["body"]["fields"]["summary"]
            for line in (tmp_path / folder / "outbox" / "jira.jsonl").read_text().splitlines()
            if "cievents-posture" in line and line.startswith('{"body": {"fields"')
        ]
        assert sorted(items) == [
            "Repository posture: posture-branch-unprotected in acme-inc/payments-api",
            "Repository posture: posture-stale-writable in acme-inc/ml-notebooks",
        ], (folder, items)


@pytest.mark.parametrize(
    ("text", "attributes", "expected"),
    [
        ('attributes.source = "buildkite"', {"source": "buildkite"}, True),
        ('attributes.source = "buildkite"', {"source": "github"}, False),
        (
            'attributes.source = "buildkite" AND hasPrefix(attributes.event, "build.")',
            {"source": "buildkite", "event": "build.finished"},
            True,
        ),
        (
            '(attributes.source = "a" AND attributes.event = "x") OR (attributes.source = "b")',
            {"source": "b"},
            True,
        ),
        ("NOT attributes:pipeline", {"source": "b"}, True),
        ('attributes.state != "passed"', {"state": "failed"}, True),
        ("", {}, True),
    ],
)
def test_filters(text: str, attributes: dict[str, str], expected: bool) -> None:
    assert compile_filter(text)(attributes) is expected


def test_bad_filter_is_an_error() -> None:
    with pytest.raises(FilterError):
        compile_filter('attributes.source = "x" AND')


@pytest.mark.slow
def test_demo_cli_shuffled_three_times_gives_the_effects_of_once_for_every_seed(
    events: Path, tmp_path: Path
) -> None:
    """``cievents demo --times 3 --shuffle --seed S``, the command itself, for a few seeds:
    the recovery (#103) often arrives before the failure (#102), the work item's Done
    before its finding; the side effects are those of ``--times 1``."""

    def demo(out: Path, *args: str) -> dict[str, object]:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "cievents.cli", "demo", "--no-emulator"),
                *("--events", str(events), "--out", str(out), *args),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "dead letters: 0" in done.stdout
        return effects(out)

    once = demo(tmp_path / "once")
    for seed in (1, 2, 5):
        shuffled = demo(tmp_path / f"seed-{seed}", "--times", "3", "--shuffle", "--seed", str(seed))
        for kind in ORDER_DEPENDENT:
            assert shuffled[kind] == once[kind], (seed, kind, shuffled[kind], once[kind])
