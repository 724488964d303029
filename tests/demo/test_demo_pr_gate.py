"""make demo shows a leaking pull request on each of the four SCMs (examples/pr_gate.py)
blocked, then unblocked by the fixing push: through ingest, the bus and secret_scan as
separate processes, secret_scan reading each PR through its vendor's API from the demo's
stand-in, its writes in the dry run's outbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cievents.demo.runner import Options, run
from tests.demo import EXAMPLES, example_events

ROOT = Path(__file__).resolve().parents[2]
PRS = ["1050-github-pr-12", "1051-gitlab-mr-31", "1052-bitbucket-pr-7", "1053-azure-repos-pr-42"]


def head(name: str) -> str:
    return str(json.loads((EXAMPLES / f"{name}.pr.json").read_text())["head"])


def verdicts(entries: list[dict[str, Any]], sink: str) -> dict[str, str]:
    """Head (prefix) → the cievents/secret-scan state last recorded on it."""
    out: dict[str, str] = {}
    for e in entries:
        url, body = e["url"], e["body"] or {}
        if (
            sink == "github"
            and url.endswith("/check-runs")
            and body.get("name") == "cievents/secret-scan"
        ):  # the demo's secret_scan is a GitHub App: a check run
            out[body["head_sha"]] = body["conclusion"]
        if sink == "gitlab" and "/statuses/" in url and body.get("name") == "cievents/secret-scan":
            out[url.rsplit("/", 1)[1]] = body["state"]
        if sink == "bitbucket" and url.endswith("/statuses/build"):
            out[url.split("/commit/")[1].split("/")[0]] = body["state"]
        if (
            sink == "azure-devops"
            and "/commits/" in url
            and url.split("?")[0].endswith("/statuses")
        ):
            out[url.split("/commits/")[1].split("/")[0]] = body["state"]
    return out


@pytest.mark.slow
def test_each_scms_leaking_pr_is_blocked_then_unblocked(tmp_path: Path) -> None:
    events = example_events(tmp_path / "events", [f"{name}-*" for name in PRS])
    out = tmp_path / "out"
    report = run(Options(root=ROOT, events=events, out=out, use_emulator=False))
    assert report.dead_letters == 0
    assert report.functions["secret_scan"].get("acted") == 2 * len(PRS), report.functions
    failed = {
        "github": "failure",
        "gitlab": "failed",
        "bitbucket": "FAILED",
        "azure-devops": "failed",
    }
    passed = {
        "github": "success",
        "gitlab": "success",
        "bitbucket": "SUCCESSFUL",
        "azure-devops": "succeeded",
    }
    for name, sink in zip(PRS, ["github", "gitlab", "bitbucket", "azure-devops"], strict=True):
        entries = [
            json.loads(x) for x in (out / "outbox" / f"{sink}.jsonl").read_text().splitlines()
        ]
        states = verdicts(entries, sink)
        leak, fix = head(f"{name}-a-leak"), head(f"{name}-b-fix")
        assert [v for k, v in states.items() if leak.startswith(k)] == [failed[sink]], states
        assert [v for k, v in states.items() if fix.startswith(k)] == [passed[sink]], states
        comments = [e for e in entries if "cievents:secret-scan" in json.dumps(e["body"])]
        created = [
            e
            for e in comments
            if e["method"] == "POST" and "threadContext" not in json.dumps(e["body"])
        ]
        edited = [e for e in comments if e["method"] in ("PATCH", "PUT")]
        assert len(created) == 1 and len(edited) == 1, (sink, comments)  # one comment, edited
    text = (out / "outbox" / "index.html").read_text()
    for name in PRS:
        secret = json.loads((EXAMPLES / f"{name}-a-leak.pr.json").read_text())["files"]
        leaked = next(iter(secret.values()))[1].split("'")[-2]
        assert leaked not in text
