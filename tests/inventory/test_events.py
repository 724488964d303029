"""The webhooks that change a repository, on the vendors' own payloads (tests/fixtures/vendor):
the repository named by its stable id, the branches a push moved; then ``Sync.one`` re-reads
it from the vendor fake, records the default branch's new head, and marks a deletion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cievents.idempotency.memory import MemoryStore
from cievents.inventory.events import ref_of, wants
from cievents.inventory.runner import build_sync
from cievents.metrics.duckdb_store import DuckDBStore
from tests.inventory.fleet import azure_repo, bitbucket_repo, fleet, github_repo, gitlab_project

VENDOR = Path(__file__).parents[1] / "fixtures" / "vendor"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VENDOR / name).read_text("utf-8"))
    return data


def test_refs_from_vendor_payloads() -> None:
    gh = ref_of("github", "push", fixture("github/push.json"))
    assert gh is not None and (gh.scm, gh.id, gh.full_name) == (
        "github",
        "63933911",
        "binkkatal/sample_app",
    )
    assert gh.head_of("master") == "fd489864e7642b48eaad6e3f155c10e46810ec72"
    gl = ref_of("gitlab", "push", fixture("gitlab/push.json"))
    assert gl is not None and (gl.id, gl.full_name) == ("15", "mike/diaspora")
    assert gl.head_of("master") == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    bb = ref_of("bitbucket", "repo:push", fixture("bitbucket/repo.push.json"))
    assert bb is not None and bb.id == "{3deb8c29-778a-450c-8f69-3e50a18079df}"
    assert bb.owner == "amuniz" and bb.head_of("feature/issue-819") == (
        "5ecffa3874e96920f24a2b3c0d0038e47d5cd1a4"
    )
    assert bb.head_of("master") is None  # the push moved only a feature branch
    az = ref_of("azure-devops", "git.push", fixture("azure-devops/git.push.json"))
    assert az is not None and az.id == "278d5cd2-584d-4b63-824a-2ba458937249"
    assert az.owner == "fabrikam-fiber-inc/Fabrikam-Fiber-Git"
    assert az.head_of("master") == "33b55f7cb7e7e245323987634f960cf4a6e6bc74"
    # A deleted branch is no head; events that change no repository are not wanted.
    tag = ref_of("github", "push", fixture("github/push.tag-deleted.json"))
    assert tag is not None and tag.pushed == ()
    assert not wants("github", "pull_request") and not wants("gitlab", "merge_request")
    assert ref_of("github", "issues", {"repository": {"id": 1}}) is None


@pytest.mark.parametrize(
    ("source", "event", "name"),
    [
        ("github", "push", "github/push.json"),
        ("gitlab", "push", "gitlab/push.json"),
        ("bitbucket", "repo:push", "bitbucket/repo.push.json"),
        ("azure-devops", "git.push", "azure-devops/git.push.json"),
    ],
)
def test_a_push_updates_its_asset_and_a_deletion_marks_it(
    source: str, event: str, name: str, tmp_path: Path
) -> None:
    body = fixture(name)
    ref = ref_of(source, event, body)
    assert ref is not None
    with fleet(0, 0, 0, 0) as world:
        # The vendor holds the repository the payload names (as its API would answer).
        if ref.scm == "github":
            item = github_repo(1, "binkkatal") | {
                "id": int(str(ref.id)),
                "default_branch": "master",
            }
            world.github.inventory[item["id"]] = item  # type: ignore[attr-defined]
        elif ref.scm == "gitlab":
            item = gitlab_project(1, "mike") | {"id": 15, "default_branch": "master"}
            world.gitlab.inventory[15] = item  # type: ignore[attr-defined]
        elif ref.scm == "bitbucket":
            item = bitbucket_repo(1, "amuniz") | {"uuid": ref.id, "slug": "test-repos"}
            item["mainbranch"] = {"name": "feature/issue-819"}
            world.bitbucket.inventory[ref.id] = item  # type: ignore[attr-defined]
        else:
            item = azure_repo(1, "fabrikam-fiber-inc", "Fabrikam-Fiber-Git")
            item |= {"id": ref.id, "defaultBranch": "refs/heads/master"}
            world.azure.inventory[ref.id] = item  # type: ignore[attr-defined]
        store = DuckDBStore(tmp_path / "m.duckdb")
        sync = build_sync(world.env(), only=(ref.scm,), metrics=store, state=MemoryStore())
        lister = sync.listers[0]
        repo, written = sync.one(lister, ref)
        assert repo is not None and written and repo.head_sha
        assert repo.head_sha == ref.head_of(repo.default_branch)
        assert sync.one(lister, ref) == (repo, False)  # a redelivery writes nothing
        # Gone from the vendor (a 404 on re-read): marked deleted, the row kept.
        for holder in (world.github, world.gitlab, world.bitbucket, world.azure):
            holder.inventory.clear()  # type: ignore[attr-defined]
        gone, marked = sync.one(lister, ref)
        assert gone is None and marked
        row = store.query("SELECT status, full_name FROM assets")[0]
        assert row["status"] == "deleted" and row["full_name"] == repo.full_name
