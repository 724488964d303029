"""The PR gate as deployed: secret_scan behind functions-framework, fed the pull / merge
request webhooks of GitHub, GitLab, Bitbucket and Azure Repos as ingest publishes them,
against loopback fakes of the four APIs (two items a page, so every list is paged).

Done when, for each SCM: a PR adding a credential ends with exactly one comment and a
failing ``cievents/secret-scan`` on its head with the line, delivered 3x shuffled; a later
push removing it turns the check green on the new head and edits the same comment.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cievents.findings import FindingMessage
from tests.conftest import CapturedLog
from tests.scanning.samples import positives
from tests.support.apps import function_client
from tests.support.fakes import azure_devops, bitbucket, github, gitlab
from tests.support.pr_events import pr_webhook, push_of

SOURCE = str(Path(__file__).parents[2] / "functions" / "secret_scan" / "main.py")
LEAK = next(c for c in positives() if c[0] == "github-token")[2]
TOKEN = "pr-gate-test-token-not-real"
H1, H2 = "a1" * 20, "b2" * 20
OLD = "import os\n\nTIMEOUT = 30\n"
LEAKING = f"import os\n\nTIMEOUT = 30\nGITHUB_TOKEN = '{LEAK}'\n"
FIXED = "import os\n\nTIMEOUT = 30\nRETRIES = 3\n"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
ids = itertools.count(1)


def unified(path: str, old: str, new: str) -> str:
    import difflib

    body = "".join(
        difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}", n=3
        )
    )
    return f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n{body}"


@dataclass
class Scm:
    """One SCM's fake, the function's settings for it, and how to read its end state."""

    source: str
    repo: str
    number: int
    fake: Any
    env: dict[str, str]
    set_head: Callable[[str, str], None]  # (head, new file text)
    comments: Callable[[], list[dict[str, Any]]]  # [{"id", "body", "edits"}]
    check: Callable[[str], str | None]  # head → state of cievents/secret-scan, vendor's words
    lines: Callable[[str], list[int]]  # head → annotated lines
    failed: str
    passed: str


def make_scm(source: str) -> Scm:
    path = "app/settings.py"
    if source == "github":
        fake = github.FakeGitHub(app_key=KEY, page_size=2).start()
        repo = "acme-inc/web-app"

        def set_head(head: str, text: str) -> None:
            fake.pulls[(repo, 7)] = github.PullRequestState(head, unified(path, OLD, text))

        def check(head: str) -> str | None:
            runs = fake.runs(repo, head, "cievents/secret-scan")
            return str(runs[-1]["conclusion"]) if runs else None

        return Scm(
            source,
            repo,
            7,
            fake,
            {
                "GITHUB_API_URL": fake.url,
                "GITHUB_APP_ID": "12345",
                "GITHUB_APP_PRIVATE_KEY": PEM.replace("\n", "\\n"),
                "GITHUB_APP_INSTALLATION_ID": "77",
            },
            set_head,
            lambda: fake.comments_on(repo, 7),
            check,
            lambda head: [
                a["start_line"]
                for r in fake.runs(repo, head, "cievents/secret-scan")
                for a in r["annotations"]
            ],
            "failure",
            "success",
        )
    if source == "gitlab":
        fake = gitlab.FakeGitLab(tokens=(TOKEN,), page_size=2).start()
        repo = "platform/web-app"

        def set_head_gl(head: str, text: str) -> None:
            hunks = unified(path, OLD, text).split("\n", 4)[4]
            fake.mrs[(repo, 12)] = gitlab.MergeRequestState(
                head, [{"new_path": path, "diff": hunks}]
            )

        def check_gl(head: str) -> str | None:
            status = fake.latest_status(repo, head, "cievents/secret-scan")
            return str(status["state"]) if status else None

        return Scm(
            source,
            repo,
            12,
            fake,
            {"GITLAB_API_URL": fake.url, "GITLAB_TOKEN": TOKEN},
            set_head_gl,
            lambda: fake.notes_on(repo, 12),
            check_gl,
            lambda head: [
                d["notes"][0]["position"]["new_line"]
                for d in fake.discussions
                if d["notes"][0]["position"]["head_sha"] == head and not d["notes"][0]["resolved"]
            ],
            "failed",
            "success",
        )
    if source == "bitbucket":
        fake = bitbucket.FakeBitbucket(tokens=(TOKEN,), page_size=2).start()
        repo = "acme/web-app"

        def set_head_bb(head: str, text: str) -> None:
            fake.pulls[(repo, 3)] = bitbucket.PullRequestState(head[:12], unified(path, OLD, text))

        def check_bb(head: str) -> str | None:
            status = fake.latest_status(repo, head[:12], "cievents/secret-scan")
            report = fake.reports.get((repo, head[:12], "cievents-secret-scan"))
            return f"{status['state']}/{report['result']}" if status and report else None

        return Scm(
            source,
            repo,
            3,
            fake,
            {"BITBUCKET_API_URL": fake.url, "BITBUCKET_TOKEN": TOKEN},
            set_head_bb,
            lambda: [{**c, "body": c["raw"]} for c in fake.comments_on(repo, 3)],
            check_bb,
            lambda head: [
                a["line"]
                for a in fake.annotations.get(
                    (repo, head[:12], "cievents-secret-scan"), {}
                ).values()
            ],
            "FAILED/FAILED",
            "SUCCESSFUL/PASSED",
        )
    fake = azure_devops.FakeAzureDevOps(pats=(TOKEN,), page_size=2).start()
    repo = "fabrikam/Fiber/web-app"
    iteration_of: dict[str, int] = {}

    def set_head_az(head: str, text: str) -> None:
        iteration_of[head] = len(iteration_of) + 1
        fake.add_pull(
            repo,
            21,
            azure_devops.PullRequestState(head, {path: (OLD, text)}, iterations=len(iteration_of)),
        )

    def check_az(head: str) -> str | None:
        commit = [s for s in fake.commit_statuses if s["sha"] == head]
        pr = [
            s
            for s in fake.pr_statuses
            if s["context"] == {"genre": "cievents", "name": "secret-scan"}
            and s.get("iterationId") == iteration_of.get(head)
        ]
        return f"{pr[-1]['state']}/{commit[-1]['state']}" if commit and pr else None

    return Scm(
        "azure-devops",
        repo,
        21,
        fake,
        {"AZURE_DEVOPS_ORG_URL": f"{fake.url}/fabrikam", "AZURE_DEVOPS_PAT": TOKEN},
        set_head_az,
        lambda: [
            {
                "id": t["id"],
                "body": t["comments"][0]["content"],
                "edits": t["comments"][0].get("edits", 0),
            }
            for t in fake.threads_on(repo, 21)
            if not t["threadContext"]
        ],
        check_az,
        lambda head: [
            t["threadContext"]["rightFileStart"]["line"]
            for t in fake.threads_on(repo, 21)
            if t["threadContext"] and t["status"] == "active"
        ],
        "failed/failed",
        "succeeded/succeeded",
    )


@pytest.fixture(params=["github", "gitlab", "bitbucket", "azure-devops"])
def scm(request: pytest.FixtureRequest) -> Iterator[Scm]:
    s = make_scm(request.param)
    try:
        yield s
    finally:
        s.fake.stop()


def app(scm: Scm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> tuple[Any, Path]:
    published = tmp_path / "findings.jsonl"
    settings = {
        **scm.env,
        "CIEVENTS_FINDINGS_PUBLISH_TO": f"file:{published}",
        "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
        "SECURITY_SLACK_CHANNEL": "#security",
        **env,
    }
    return function_client(monkeypatch, SOURCE, settings), published


def deliver(client: Any, scm: Scm, action: str, head: str) -> int:
    body, headers = pr_webhook(
        scm.source, action, scm.repo, scm.number, head, f"d-{action}-{head[:4]}"
    )
    return int(
        client.post("/", json=push_of(scm.source, body, headers, f"m{next(ids)}")).status_code
    )


@pytest.mark.parametrize("seed", [3, 11])
def test_a_leaking_pr_is_blocked_then_unblocked_by_the_fixing_push(
    scm: Scm, seed: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    client, published = app(scm, monkeypatch, tmp_path)
    rng = random.Random(seed)
    scm.set_head(H1, LEAKING)
    plan = ["opened"] * 3 + ["reopened"] * 3
    rng.shuffle(plan)
    assert all(deliver(client, scm, action, H1) == 200 for action in plan)

    assert scm.check(H1) == scm.failed
    assert scm.lines(H1) == [4]
    comments = scm.comments()
    assert len(comments) == 1, comments
    assert "1 leaked credential(s)" in comments[0]["body"] and "line 4" in comments[0]["body"]
    findings = published.read_text().splitlines()
    assert len(findings) == 1  # published once, however often the PR was delivered
    message = FindingMessage.from_bytes(base64.b64decode(json.loads(findings[0])["data"]))
    assert message.location == {
        "kind": "pr_diff",
        "path": "app/settings.py",
        "line": 4,
        "end_line": 4,
        "start_column": message.location["start_column"],
        "end_column": message.location["end_column"],
    }
    assert message.pull_request == scm.number and message.commit.startswith(H1[:12])

    scm.set_head(H2, FIXED)  # the fixing push
    plan = ["updated"] * 3 + ["opened"]  # the opened one: a late redelivery of the first event
    rng.shuffle(plan)
    for action in plan:
        assert deliver(client, scm, action, H2 if action == "updated" else H1) == 200

    assert scm.check(H2) == scm.passed
    assert scm.check(H1) == scm.failed  # the old head keeps its verdict
    after = scm.comments()
    assert [c["id"] for c in after] == [comments[0]["id"]]  # the same comment, edited
    assert "no leaked credentials" in after[0]["body"] and after[0].get("edits", 0) >= 1
    assert scm.lines(H2) == []
    if scm.source in ("gitlab", "azure-devops"):  # the line discussion / thread is resolved
        assert scm.lines(H1) == []
    sent = b"".join(r.body for r in scm.fake.requests).decode()
    outbox = "".join(p.read_text() for p in (tmp_path / "outbox").glob("*.jsonl"))
    for text in (sent, outbox, captured_log.text, *findings):
        assert LEAK not in text  # never the secret in clear
    assert LEAK[:4] in sent  # the redacted preview is there


def test_a_diff_over_the_bound_fails_closed_and_says_so(
    scm: Scm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client, _ = app(scm, monkeypatch, tmp_path, SCAN_MAX_DIFF_BYTES="1024")
    scm.set_head(H1, OLD + "".join(f"LINE_{n} = {n}\n" for n in range(200)))
    assert deliver(client, scm, "opened", H1) == 200
    assert scm.check(H1) == scm.failed
    (comment,) = scm.comments()
    assert "not read in full" in comment["body"] and "1024 bytes" in comment["body"]


def test_without_credentials_nothing_is_fetched_and_the_preview_says_not_scanned(
    scm: Scm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    url_only = {k: v for k, v in scm.env.items() if k.endswith("_URL")}
    client = function_client(
        monkeypatch, SOURCE, {**url_only, "CIEVENTS_DRY_RUN": "1", "CIEVENTS_STORE": "memory:"}
    )
    scm.set_head(H1, LEAKING)
    assert deliver(client, scm, "opened", H1) == 200
    assert scm.fake.requests == []
    (outcome,) = captured_log.outcomes()
    assert outcome["outcome"] == "skipped" and "not scanned: no credentials" in outcome["reason"]
    assert not list((tmp_path / "outbox").glob("*.jsonl"))  # no "success" recorded


def test_a_dry_run_with_credentials_reads_the_pr_and_records_the_failing_check(
    scm: Scm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client, _ = app(scm, monkeypatch, tmp_path, CIEVENTS_DRY_RUN="1")
    scm.set_head(H1, LEAKING)
    assert deliver(client, scm, "opened", H1) == 200
    assert all(r.method == "GET" or "access_tokens" in r.path for r in scm.fake.requests)
    recorded = [
        json.loads(line)
        for p in (tmp_path / "outbox").glob("*.jsonl")
        if p.stem != "slack"
        for line in p.read_text().splitlines()
    ]
    text = json.dumps(recorded)
    assert recorded  # Azure Repos records the name as genre "cievents", name "secret-scan"
    assert "cievents/secret-scan" in text or '"name": "secret-scan"' in text
    assert any(w in text for w in ('"failure"', '"failed"', '"FAILED"'))
    assert LEAK not in text


def test_github_with_a_token_only_falls_back_to_a_commit_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scm = make_scm("github")
    scm.fake.tokens.add(TOKEN)
    try:
        client, _ = app(
            scm,
            monkeypatch,
            tmp_path,
            GITHUB_API_URL=scm.fake.url,
            GITHUB_TOKEN=TOKEN,
            GITHUB_APP_ID="",
            GITHUB_APP_PRIVATE_KEY="",
            GITHUB_APP_INSTALLATION_ID="",
        )
        scm.set_head(H1, LEAKING)
        assert deliver(client, scm, "opened", H1) == 200
    finally:
        scm.fake.stop()
    assert not scm.fake.check_runs
    status = scm.fake.latest_status(scm.repo, H1, "cievents/secret-scan")
    assert status and status["state"] == "failure"
    assert len(scm.comments()) == 1 and "line 4" in scm.comments()[0]["body"]
