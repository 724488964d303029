"""The secret scan of committed code: each SCM's real client downloads its archive from the
loopback fake (GitHub's 302 to the tarball, GitLab's archive.tar.gz, Bitbucket's download,
Azure's zip), bounded and streamed, scanned by the project's scanner."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from typing import Any

import pytest

from cievents import clock
from cievents.idempotency import open_store
from cievents.inventory.committed import (
    ScanLimits,
    head_of,
    last_head_of,
    record_head,
    scan_repository,
)
from cievents.inventory.model import Repo
from cievents.scanning import Scanner
from cievents.scanning.validate import github_style_token
from cievents.scm.azure import AzureReposClient
from cievents.scm.bitbucket import BitbucketClient
from cievents.scm.github import GitHubClient
from cievents.scm.gitlab import GitLabClient
from tests.inventory.support import make_repo
from tests.support.fakehttp import Fault, Reply
from tests.support.fakes import azure_devops, bitbucket, github, gitlab

TOKEN = "scm-token-" + "C0mm1tted" * 3
rng = random.Random(23)
LEAK = github_style_token("ghp_", "".join(rng.choice(string.ascii_letters) for _ in range(30)))
AWS = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
TREE = {
    "README.md": b"# web\n\nNothing to see.\n",
    "config/settings.py": f'DEBUG = False\nGITHUB_TOKEN = "{LEAK}"\n'.encode(),
    "deploy/env.sh": f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={AWS}\n".encode(),
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + LEAK.encode(),  # binary: skipped
    "data/big.txt": b"x" * 5000 + LEAK.encode(),  # over the per-file bound in these tests
}
LIMITS = ScanLimits(max_bytes=10 * 1024 * 1024, max_file_bytes=4096)


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner()


def repo(scm: Any, full_name: str, id_: str, web_url: str = "", **changes: Any) -> Repo:
    target = make_repo(scm, full_name, id_, **changes)
    return target.with_(web_url=web_url) if web_url else target


def places(scan: Any) -> list[tuple[str, int, str]]:
    return sorted((f.path, f.line, f.rule_id) for f in scan.findings)


EXPECTED = [
    ("config/settings.py", 2, "github-token"),
    ("deploy/env.sh", 2, "aws-access-key-id"),
]


@pytest.fixture
def gh() -> Iterator[github.FakeGitHub]:
    server = github.FakeGitHub(tokens=(TOKEN,)).start()
    server.audited["acme/web"] = github.AuditedRepo(files=dict(TREE), head_sha="1" * 40)
    yield server
    server.stop()


def gh_client(fake: github.FakeGitHub) -> GitHubClient:
    return GitHubClient(api_url=fake.url, token=TOKEN)


def test_github_tarball_scanned_with_paths_and_lines(
    gh: github.FakeGitHub, scanner: Scanner
) -> None:
    target = repo("github", "acme/web", "1")
    scan = scan_repository(target, gh_client(gh), None, scanner=scanner, limits=LIMITS)
    assert scan.scanned and scan.head == "1" * 40 and not scan.truncated
    assert places(scan) == EXPECTED
    assert (scan.files, scan.skipped_files) == (3, 2)
    assert any("data/big.txt" in n and "INVENTORY_SCAN_MAX_FILE_BYTES" in n for n in scan.notes)
    messages = scan.messages(clock.now_utc())
    assert {m.location["path"] for m in messages} == {"config/settings.py", "deploy/env.sh"}
    assert all(m.commit == "1" * 40 and m.source == "repo_inventory" for m in messages)
    for m in messages:
        text = m.to_bytes().decode()
        assert LEAK not in text and AWS not in text and TOKEN not in text
        assert "redacted" in m.preview


def test_same_fingerprint_as_in_a_job_log(gh: github.FakeGitHub, scanner: Scanner) -> None:
    scan = scan_repository(repo("github", "acme/web", "1"), gh_client(gh), None, scanner=scanner)
    in_log = scanner.scan_text(f"2026-01-01T00:00:00Z + curl -H 'Authorization: token {LEAK}'")
    assert {f.fingerprint for f in in_log} <= {f.fingerprint for f in scan.findings}


def test_unchanged_head_is_not_downloaded_again(gh: github.FakeGitHub, scanner: Scanner) -> None:
    store = open_store("memory:")
    target = repo("github", "acme/web", "1")
    assert last_head_of(store, target) is None
    first = scan_repository(target, gh_client(gh), last_head_of(store, target), scanner=scanner)
    assert first.scanned and first.head is not None
    record_head(store, target, first.head)
    again = scan_repository(target, gh_client(gh), last_head_of(store, target), scanner=scanner)
    assert not again.scanned and "already scanned" in again.reason
    assert gh.audited["acme/web"].downloads == 1
    gh.audited["acme/web"].head_sha = "2" * 40  # a push
    third = scan_repository(target, gh_client(gh), last_head_of(store, target), scanner=scanner)
    assert third.scanned and third.head == "2" * 40 and gh.audited["acme/web"].downloads == 2
    # a push event's head is taken as given: no head read
    reads = len(gh.calls("GET", r"/repos/acme/web/branches/main"))
    pushed = target.with_(head_sha="3" * 40)
    assert scan_repository(pushed, gh_client(gh), "3" * 40, scanner=scanner).scanned is False
    assert len(gh.calls("GET", r"/repos/acme/web/branches/main")) == reads


def test_inactive_repositories_are_not_scanned(gh: github.FakeGitHub, scanner: Scanner) -> None:
    for changes in ({"archived": True}, {"empty": True}, {"deleted": True}):
        target = repo("github", "acme/web", "1", **changes)
        scan = scan_repository(target, gh_client(gh), None, scanner=scanner)
        assert not scan.scanned and "not scanned" in scan.reason
    assert gh.audited["acme/web"].downloads == 0


def test_the_download_is_cut_at_its_bound(gh: github.FakeGitHub, scanner: Scanner) -> None:
    noise = random.Random(5)
    gh.audited["acme/web"].files = {
        f"gen/{i}.txt": "".join(noise.choice(string.ascii_letters) for _ in range(3000)).encode()
        for i in range(60)
    } | {"zz/late.py": f'TOKEN = "{LEAK}"\n'.encode()}
    limits = ScanLimits(max_bytes=64 * 1024, max_file_bytes=4096)
    scan = scan_repository(
        repo("github", "acme/web", "1"), gh_client(gh), None, scanner=scanner, limits=limits
    )
    assert scan.scanned and scan.truncated and scan.archive_bytes == 64 * 1024
    assert 0 < scan.files < 61 and scan.findings == []  # the late file was past the cut
    assert any("INVENTORY_SCAN_MAX_BYTES" in n for n in scan.notes)


def test_a_failing_download_and_a_rate_limited_head_are_retried(
    gh: github.FakeGitHub, scanner: Scanner
) -> None:
    gh.fault("GET", r"/repos/acme/web/tarball/1{40}", Fault("status", 502, {}, "bad gateway"))
    gh.queue("GET", r"/repos/acme/web/branches/main", Reply(429, {}, {"Retry-After": "1"}))
    started = clock.now()
    scan = scan_repository(repo("github", "acme/web", "1"), gh_client(gh), None, scanner=scanner)
    assert clock.now() - started >= 1.0
    assert places(scan) == EXPECTED
    assert len(gh.calls("GET", r"/repos/acme/web/tarball/1{40}")) == 2


def test_gitlab_archive(scanner: Scanner) -> None:
    with gitlab.FakeGitLab(tokens=(TOKEN,)) as fake:
        fake.audited["42"] = gitlab.AuditedProject(files=dict(TREE), head_sha="4" * 40)
        client = GitLabClient(api_url=fake.url, token=TOKEN)
        target = repo("gitlab", "acme/web", "42")
        assert head_of(target, client) == "4" * 40
        scan = scan_repository(target, client, None, scanner=scanner, limits=LIMITS)
        assert places(scan) == EXPECTED
        (call,) = fake.calls("GET", r"/projects/42/repository/archive\.tar\.gz")
        assert call.query["sha"] == ["4" * 40]


def test_bitbucket_download(scanner: Scanner) -> None:
    with bitbucket.FakeBitbucket(tokens=(TOKEN,)) as fake:
        fake.audited["acme/web"] = bitbucket.AuditedRepo(files=dict(TREE), head_sha="5" * 40)
        client = BitbucketClient(api_url=fake.url, token=TOKEN)
        target = repo("bitbucket", "acme/web", "{1}", web_url=f"{fake.url}/acme/web")
        scan = scan_repository(target, client, None, scanner=scanner, limits=LIMITS)
        assert scan.head == "5" * 40
        assert places(scan) == EXPECTED
        assert fake.calls("GET", r"/acme/web/get/5{40}\.tar\.gz")


def test_azure_zip(scanner: Scanner) -> None:
    with azure_devops.FakeAzureDevOps(pats=(TOKEN,)) as fake:
        fake.audited["r-1"] = azure_devops.AuditedRepo(files=dict(TREE), head_sha="6" * 40)
        client = AzureReposClient(base_url=fake.url, token=TOKEN)
        target = repo("azure", "fabrikam/Web/site", "r-1")
        scan = scan_repository(target, client, None, scanner=scanner, limits=LIMITS)
        assert scan.head == "6" * 40 and not scan.truncated
        assert places(scan) == EXPECTED
        (call,) = fake.calls("GET", r"/fabrikam/Web/_apis/git/repositories/r-1/items")
        assert call.query["$format"] == ["zip"]
        assert call.query["versionDescriptor.version"] == ["6" * 40]
        # a zip over the bound cannot be read at all: not scanned, and said so
        small = ScanLimits(max_bytes=400, max_file_bytes=4096)
        cut = scan_repository(target, client, None, scanner=scanner, limits=small)
        assert cut.truncated and cut.files == 0 and any("zip" in n for n in cut.notes)


def test_limits_from_env() -> None:
    limits = ScanLimits.from_env(
        {"INVENTORY_SCAN_MAX_BYTES": "1048576", "INVENTORY_SCAN_MAX_FILE_BYTES": "65536"}
    )
    assert limits == ScanLimits(1048576, 65536)
    assert ScanLimits.from_env({}) == ScanLimits()
    from cievents.errors import ConfigError

    with pytest.raises(ConfigError, match="^INVENTORY_SCAN_MAX_BYTES: .*e.g."):
        ScanLimits.from_env({"INVENTORY_SCAN_MAX_BYTES": "lots"})
