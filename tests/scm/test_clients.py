"""The SCM surface against loopback fakes of GitHub, GitLab, Bitbucket and Azure Repos.

One contract, four vendors: comments found again across pages and edited in place, a
check with a line annotation that fails and then passes on a new head, added lines read
through each vendor's diff API with their new-side line numbers, and lists bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cievents.scm import Annotation, CheckReport, PullRequest, ScmSettings
from cievents.vcs.repo import Repository
from tests.conftest import CapturedLog
from tests.support.fakes import azure_devops, bitbucket, github, gitlab

TOKEN = "scm-test-token-not-real"
HEAD1, HEAD2 = "1" * 40, "2" * 40
OLD = "import os\n\nDEBUG = False\n"
NEW = "import os\n\nDEBUG = False\nAPI_KEY = 'planted'\n"
UNIFIED = (
    "diff --git a/app/settings.py b/app/settings.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/app/settings.py\n"
    "+++ b/app/settings.py\n"
    "@@ -1,3 +1,4 @@\n"
    " import os\n"
    " \n"
    " DEBUG = False\n"
    "+API_KEY = 'planted'\n"
)
HUNKS = UNIFIED.split("\n", 4)[4]
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


@dataclass
class Vendor:
    fake: Any
    client: Any
    pr: PullRequest
    push: Callable[[str, bool], None]  # (new head, still leaking?)
    comments: Callable[[], list[str]]
    check: Callable[[str], str | None]  # head → the check's state in the vendor's words
    annotated: Callable[[str], list[tuple[str, int]]]  # head → [(path, line)] annotated


def _github(page_size: int, app: bool) -> Vendor:
    fake = github.FakeGitHub(tokens=(TOKEN,), app_key=KEY, page_size=page_size).start()
    env = {"GITHUB_API_URL": fake.url}
    env.update(
        {
            "GITHUB_APP_ID": "12345",
            "GITHUB_APP_PRIVATE_KEY": PEM,
            "GITHUB_APP_INSTALLATION_ID": "77",
        }
        if app
        else {"GITHUB_TOKEN": TOKEN}
    )
    client = ScmSettings.from_env(env).client("github")
    repo = "acme-inc/web-app"
    pr = PullRequest(Repository("github", "github.com", repo), 7, HEAD1)

    def push(head: str, leak: bool) -> None:
        diff = UNIFIED if leak else UNIFIED.replace("+API_KEY = 'planted'\n", "+API_KEY = env()\n")
        fake.pulls[(repo, 7)] = github.PullRequestState(head_sha=head, diff=diff)

    def check(head: str) -> str | None:
        runs = fake.runs(repo, head, "cievents/secret-scan")
        if runs:
            return str(runs[-1]["conclusion"])
        status = fake.latest_status(repo, head, "cievents/secret-scan")
        return str(status["state"]) if status else None

    def annotated(head: str) -> list[tuple[str, int]]:
        return [
            (a["path"], a["start_line"])
            for r in fake.runs(repo, head, "cievents/secret-scan")
            for a in r["annotations"]
        ]

    return Vendor(
        fake,
        client,
        pr,
        push,
        lambda: [c["body"] for c in fake.comments_on(repo, 7)],
        check,
        annotated,
    )


def _gitlab(page_size: int) -> Vendor:
    fake = gitlab.FakeGitLab(tokens=(TOKEN,), page_size=page_size).start()
    client = ScmSettings.from_env({"GITLAB_API_URL": fake.url, "GITLAB_TOKEN": TOKEN}).client(
        "gitlab"
    )
    project = "group/sub/app"
    pr = PullRequest(Repository("gitlab", "gitlab.com", project), 12, HEAD1)

    def push(head: str, leak: bool) -> None:
        hunks = HUNKS if leak else HUNKS.replace("'planted'", "env()")
        fake.mrs[(project, 12)] = gitlab.MergeRequestState(
            sha=head, files=[{"new_path": "app/settings.py", "diff": hunks}]
        )

    def check(head: str) -> str | None:
        status = fake.latest_status(project, head, "cievents/secret-scan")
        return str(status["state"]) if status else None

    def annotated(head: str) -> list[tuple[str, int]]:
        return [
            (n["position"]["new_path"], n["position"]["new_line"])
            for d in fake.discussions
            for n in d["notes"][:1]
            if n["position"]["head_sha"] == head and not n["resolved"]
        ]

    return Vendor(
        fake,
        client,
        pr,
        push,
        lambda: [n["body"] for n in fake.notes_on(project, 12)],
        check,
        annotated,
    )


def _bitbucket(page_size: int) -> Vendor:
    fake = bitbucket.FakeBitbucket(tokens=(TOKEN,), page_size=page_size).start()
    client = ScmSettings.from_env({"BITBUCKET_API_URL": fake.url, "BITBUCKET_TOKEN": TOKEN}).client(
        "bitbucket"
    )
    repo = "team/app"
    pr = PullRequest(Repository("bitbucket", "bitbucket.org", repo), 3, HEAD1[:12])

    def push(head: str, leak: bool) -> None:
        diff = UNIFIED if leak else UNIFIED.replace("'planted'", "env()")
        fake.pulls[(repo, 3)] = bitbucket.PullRequestState(head=head[:12], diff=diff)

    def check(head: str) -> str | None:
        status = fake.latest_status(repo, head[:12], "cievents/secret-scan")
        report = fake.reports.get((repo, head[:12], "cievents-secret-scan"))
        if status is None or report is None:
            return None
        return f"{status['state']}/{report['result']}"

    def annotated(head: str) -> list[tuple[str, int]]:
        found = fake.annotations.get((repo, head[:12], "cievents-secret-scan"), {})
        return [(a["path"], a["line"]) for a in found.values()]

    return Vendor(
        fake,
        client,
        pr,
        push,
        lambda: [c["raw"] for c in fake.comments_on(repo, 3)],
        check,
        annotated,
    )


def _azure(page_size: int) -> Vendor:
    fake = azure_devops.FakeAzureDevOps(pats=(TOKEN,), page_size=page_size).start()
    client = ScmSettings.from_env(
        {"AZURE_DEVOPS_ORG_URL": f"{fake.url}/fabrikam", "AZURE_DEVOPS_PAT": TOKEN}
    ).client("azure-repos")
    repo = "fabrikam/Fabrikam Fiber/web"
    pr = PullRequest(Repository("azure-repos", "dev.azure.com", repo), 21, HEAD1)

    def push(head: str, leak: bool) -> None:
        new = NEW if leak else NEW.replace("'planted'", "env()")
        before = fake.pulls.get((repo, 21))
        fake.add_pull(
            repo,
            21,
            azure_devops.PullRequestState(
                head=head,
                files={"app/settings.py": (OLD, new), "README.md": (None, "# web\n")},
                iterations=(before.iterations + 1) if before else 1,
            ),
        )

    def check(head: str) -> str | None:
        commit = [s for s in fake.commit_statuses if s["sha"] == head]
        pr_status = [s for s in fake.pr_statuses if s.get("iterationId")]
        if not commit or not pr_status:
            return None
        return f"{pr_status[-1]['state']}/{commit[-1]['state']}"

    def annotated(head: str) -> list[tuple[str, int]]:
        return [
            (t["threadContext"]["filePath"], t["threadContext"]["rightFileStart"]["line"])
            for t in fake.threads_on(repo, 21)
            if t["threadContext"] and t["status"] == "active"
        ]

    return Vendor(
        fake,
        client,
        pr,
        push,
        lambda: [
            t["comments"][0]["content"] for t in fake.threads_on(repo, 21) if not t["threadContext"]
        ],
        check,
        annotated,
    )


VENDORS: dict[str, Callable[[int], Vendor]] = {
    "github-app": lambda n: _github(n, app=True),
    "github-token": lambda n: _github(n, app=False),
    "gitlab": _gitlab,
    "bitbucket": _bitbucket,
    "azure-repos": _azure,
}
FAILED = {
    "github-app": "failure",
    "github-token": "failure",
    "gitlab": "failed",
    "bitbucket": "FAILED/FAILED",
    "azure-repos": "failed/failed",
}
PASSED = {
    "github-app": "success",
    "github-token": "success",
    "gitlab": "success",
    "bitbucket": "SUCCESSFUL/PASSED",
    "azure-repos": "succeeded/succeeded",
}


@pytest.fixture(params=sorted(VENDORS))
def vendor(request: pytest.FixtureRequest) -> Iterator[tuple[str, Vendor]]:
    v = VENDORS[request.param](2)  # two items a page: every list is paged
    try:
        yield request.param, v
    finally:
        v.fake.stop()


def _report(found: list[tuple[str, int]], head: str) -> CheckReport:
    return CheckReport(
        "cievents/secret-scan",
        "failure" if found else "success",
        f"{len(found)} leaked credential(s)",
        summary="summary",
        annotations=tuple(
            Annotation(
                path,
                line,
                "Generic API key: API_KEY = '…'",
                title="generic-api-key",
                key=f"fp{line}",
            )
            for path, line in found
        ),
    )


def scan(v: Vendor) -> list[tuple[str, int]]:
    head = v.client.pull_request(v.pr)
    added = v.client.added_lines(v.pr, head, 1 << 20)
    found = [
        (path, n) for path, lines in added.files.items() for n, text in lines if "planted" in text
    ]
    v.client.upsert_comment(v.pr, "secret-scan", f"{len(found)} finding(s)")
    v.client.publish_check(v.pr, _report(found, head.head_sha), head)
    return found


def test_a_leak_fails_the_check_on_its_line_and_a_fix_turns_it_green(
    vendor: tuple[str, Vendor],
) -> None:
    name, v = vendor
    v.push(HEAD1, True)
    for _ in range(3):  # redelivered: the same end state
        assert scan(v) == [("app/settings.py", 4)]
    assert v.check(HEAD1) == FAILED[name]
    assert len(v.comments()) == 1 and v.comments()[0].startswith("1 finding(s)")
    if name != "github-token":  # a token cannot create check runs: no line annotations
        assert [(p.lstrip("/"), n) for p, n in v.annotated(HEAD1)] == [("app/settings.py", 4)]
    v.push(HEAD2, False)
    assert scan(v) == []
    assert v.check(HEAD2) == PASSED[name]
    assert len(v.comments()) == 1 and v.comments()[0].startswith("0 finding(s)")
    if name in ("gitlab", "azure-repos"):  # line discussions / threads are resolved
        assert v.annotated(HEAD2) == [] and v.annotated(HEAD1) == []


def test_the_comment_is_found_past_the_first_page(vendor: tuple[str, Vendor]) -> None:
    _, v = vendor
    v.push(HEAD1, True)
    for n in range(5):  # other people's comments first: the marker one lands on page 3
        v.client.upsert_comment(v.pr, f"other-{n}", f"comment {n}")
    first = v.client.upsert_comment(v.pr, "secret-scan", "one")
    again = v.client.upsert_comment(v.pr, "secret-scan", "two")
    assert first == again
    bodies = [b for b in v.comments() if "two" in b or "one" in b]
    assert len(bodies) == 1 and bodies[0].startswith("two")


def test_a_bounded_list_warns_at_the_bound(
    vendor: tuple[str, Vendor], captured_log: CapturedLog
) -> None:
    name, v = vendor
    if name == "azure-repos":
        pytest.skip("Azure Repos returns a PR's threads in one response")
    v.push(HEAD1, True)
    for n in range(7):
        v.client.upsert_comment(v.pr, f"other-{n}", f"comment {n}")
    v.client.max_pages = 2
    v.client.upsert_comment(v.pr, "secret-scan", "x")
    warnings = [line for line in captured_log.lines if "page bound" in line.get("message", "")]
    assert warnings and warnings[0]["max_pages"] == 2


def test_a_diff_over_the_bound_is_marked_truncated(vendor: tuple[str, Vendor]) -> None:
    _, v = vendor
    v.push(HEAD1, True)
    head = v.client.pull_request(v.pr)
    added = v.client.added_lines(v.pr, head, 40)
    assert added.truncated and "40 bytes" in added.reasons[0]
    assert v.client.added_lines(v.pr, head, 1 << 20).truncated is False


def test_github_with_a_token_sets_a_commit_status_and_says_why() -> None:
    v = _github(100, app=False)
    with v.fake:
        v.push(HEAD1, True)
        head = v.client.pull_request(v.pr)
        published = v.client.publish_check(v.pr, _report([("app/settings.py", 4)], HEAD1), head)
    assert published.kinds == ("commit_status",)
    assert published.note and "App" in published.note
    assert not v.fake.check_runs


def test_github_too_large_diff_falls_back_to_the_files_list() -> None:
    v = _github(2, app=True)
    with v.fake:
        v.push(HEAD1, True)
        state = v.fake.pulls[("acme-inc/web-app", 7)]
        state.too_large = True
        state.files = [
            {"filename": "app/settings.py", "status": "modified", "patch": HUNKS},
            {"filename": "big.min.js", "status": "added"},  # GitHub omits a big file's patch
        ]
        head = v.client.pull_request(v.pr)
        added = v.client.added_lines(v.pr, head, 1 << 20)
    assert added.files == {"app/settings.py": [(4, "API_KEY = 'planted'")]}
    assert added.truncated and "big.min.js" in added.reasons[0]


def test_bitbucket_data_center_build_status() -> None:
    fake = bitbucket.FakeBitbucket(tokens=(TOKEN,)).start()
    try:
        settings = ScmSettings.from_env(
            {"BITBUCKET_SERVER_URL": fake.url + "/", "BITBUCKET_SERVER_TOKEN": TOKEN}
        )
        repo = settings.repository("ssh://git@127.0.0.1:7999/proj/web.git")
        assert repo == Repository("bitbucket-server", "127.0.0.1", "PROJ/web")
        settings.client("bitbucket-server").set_status(
            repo, HEAD1, "failure", "buildkite/web", "Build #3 failed", "https://ci/3"
        )
    finally:
        fake.stop()
    assert fake.server_statuses == [
        {
            "project": "PROJ",
            "slug": "web",
            "sha": HEAD1,
            "key": "buildkite/web",
            "name": "buildkite/web",
            "state": "FAILED",
            "url": "https://ci/3",
            "description": "Build #3 failed",
        }
    ]
