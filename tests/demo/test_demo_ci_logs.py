"""make demo shows a leak in a job log of each CI that is not Buildkite (examples/ci_logs.py):
through ingest, the bus and secret_scan as separate processes, each is found once and written
back to its build once, whether delivered once or three times shuffled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cievents.demo.runner import Options, run
from tests.demo import example_events

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "events"
CI_EVENTS = [
    "1500-github-actions-publish-job",
    "1520-gitlab-payments-release-job",
    "1540-azure-assets-deploy-complete",
    "1560-bitbucket-tools-pipeline-57",
]
# sink → (what one write-back on the build is, in the dry run's outbox)
WRITES = {
    "github": lambda e: "/check-runs" in e["url"]
    and e["body"]["name"] == "cievents/secret-scan-logs",
    "gitlab": lambda e: "/repository/commits/" in e["url"] and "/discussions" in e["url"],
    "azure-devops": lambda e: e["url"].endswith("/tags/secret-leak"),
    "bitbucket": lambda e: "/reports/cievents-secret-scan-logs" in e["url"]
    and e["method"] == "PUT",
}


@pytest.mark.slow
@pytest.mark.parametrize("times", [1, 3])
def test_each_ci_leak_found_once_and_written_back_once(tmp_path: Path, times: int) -> None:
    events = example_events(tmp_path / "events", [f"{name}.*" for name in CI_EVENTS])
    out = tmp_path / "out"
    report = run(
        Options(
            root=ROOT,
            events=events,
            out=out,
            times=times,
            shuffle=times > 1,
            seed=5,
            use_emulator=False,
        )
    )
    assert report.dead_letters == 0
    assert report.functions["secret_scan"].get("acted") == len(CI_EVENTS), report.functions
    assert report.functions["secret_scan"].get("failed", 0) == 0
    for sink, is_write in WRITES.items():
        entries = [
            json.loads(x) for x in (out / "outbox" / f"{sink}.jsonl").read_text().splitlines()
        ]
        assert len([e for e in entries if is_write(e)]) == 1, sink
    slack = [json.loads(x) for x in (out / "outbox" / "slack.jsonl").read_text().splitlines()]
    alerts = [e for e in slack if e["body"].get("channel") == "#security"]
    assert len(alerts) == len(CI_EVENTS)
    text = (out / "outbox" / "index.html").read_text()
    for name in CI_EVENTS:  # the secrets generated for the example logs never leave in clear
        log = (events / f"{name}.log").read_text()
        for token in ("npm_", "glpat-", "ATBB"):
            start = log.find(token)
            if start != -1:
                assert log[start : start + 30] not in text
