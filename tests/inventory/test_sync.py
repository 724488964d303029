"""The inventory sync against loopback fakes of the four SCMs that page for real: 1,000
repositories in bounded memory, resumed after a failure without duplicates, nothing
written when nothing changed, renames kept as one asset, deletions marked, 502 and 429
survived, page bounds warned about and never taken for deletions."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cievents.idempotency.memory import MemoryStore
from cievents.inventory.runner import build_sync
from cievents.metrics.duckdb_store import DuckDBStore
from tests.inventory.fleet import Fleet, fleet
from tests.support.fakehttp import Fault


@pytest.fixture
def world() -> Iterator[Fleet]:
    with fleet() as built:
        yield built


def counts(store: DuckDBStore) -> dict[str, int]:
    rows = store.query(
        "SELECT scm, COUNT(*) AS n, COUNT(DISTINCT insert_id) AS d FROM assets GROUP BY scm"
    )
    assert all(r["n"] == r["d"] for r in rows)
    return {r["scm"]: r["n"] for r in rows}


def no_sleep(_: float) -> None:
    return None


def run(
    world: Fleet, store: DuckDBStore, state: MemoryStore, mode: str = "full", **env: str
) -> Any:
    sync = build_sync({**world.env(), **env}, metrics=store, state=state, sleep=no_sleep)
    return sync, sync.run(mode)


def test_full_sync_of_1000_repositories_in_bounded_memory_then_nothing_to_write(
    world: Fleet, tmp_path: Path
) -> None:
    store, state = DuckDBStore(tmp_path / "m.duckdb"), MemoryStore()
    tracemalloc.start()
    try:
        _, report = run(world, store, state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not report.failed, report.to_dict()
    assert counts(store) == world.counts
    assert report.written == 1000
    assert {s.scm: s.pages for s in report.scms}["github"] >= 9  # 250 at 30 a page
    # Holding every page (1,000 vendor objects and their Repo rows) costs several MB under
    # tracemalloc; a page at a time stays well under this generous bound.
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB"
    # Nothing changed: a second full run writes no row, and the fakes saw only reads.
    writes_before = [
        r
        for f in (world.github, world.gitlab, world.bitbucket, world.azure)
        for r in f.requests
        if r.method != "GET"
    ]
    sync, again = run(world, store, state, "full")
    assert again.written == 0 and sync.assets.writes == 0, again.to_dict()
    assert writes_before == []
    # The schedule's auto mode after a full one is incremental: still nothing written.
    sync, auto = run(world, store, state, "auto")
    assert {s.mode for s in auto.scms} == {"incremental"} and sync.assets.writes == 0


def test_rename_move_archive_and_delete_keep_one_asset_each(world: Fleet, tmp_path: Path) -> None:
    store, state = DuckDBStore(tmp_path / "m.duckdb"), MemoryStore()
    run(world, store, state)
    gh: dict[int, dict[str, Any]] = world.github.inventory  # type: ignore[attr-defined]
    moved = gh[100_001]
    moved.update(
        name="renamed",
        full_name="acme-labs/renamed",
        owner={"login": "acme-labs"},
        updated_at="2026-02-01T00:00:00Z",
    )
    gh[100_003]["archived"] = True
    gone = gh.pop(100_005)
    gl: dict[int, dict[str, Any]] = world.gitlab.inventory  # type: ignore[attr-defined]
    gl.pop(200_002)
    sync, report = run(world, store, state, "full")
    by = {s.scm: s for s in report.scms}
    assert (by["github"].updated, by["github"].deleted, by["gitlab"].deleted) == (2, 1, 1)
    assert counts(store) == world.counts  # renamed/moved: still one row; deleted: kept
    row = store.query("SELECT * FROM assets WHERE insert_id = 'github:100001'")[0]
    assert (row["full_name"], row["owner"]) == ("acme-labs/renamed", "acme-labs")
    dead = store.query(
        "SELECT deleted, status, deleted_at FROM assets WHERE insert_id = ?",
        [f"github:{gone['id']}"],
    )[0]
    assert dead["deleted"] and dead["status"] == "deleted" and dead["deleted_at"] is not None
    assert (
        store.query("SELECT status FROM assets WHERE insert_id = 'github:100003'")[0]["status"]
        == "archived"
    )


def test_a_502_once_and_a_429_with_retry_after_are_survived(world: Fleet, tmp_path: Path) -> None:
    store, state = DuckDBStore(tmp_path / "m.duckdb"), MemoryStore()
    world.github.fault(
        "GET", r"/orgs/acme/repos", Fault("status", 502, {}, {"message": "bad gw"}, commits=False)
    )
    world.gitlab.fault(
        "GET",
        r"/groups/.*/projects",
        Fault("status", 429, {"Retry-After": "1"}, {"message": "slow"}, commits=False),
    )
    world.bitbucket.fault(
        "GET", r"/repositories/team-b", Fault("status", 502, {}, {"error": "x"}, commits=False)
    )
    _, report = run(world, store, state)
    assert not report.failed, report.to_dict()
    assert counts(store) == world.counts
    retried = [r for r in world.gitlab.requests if "/projects" in r.path]
    assert len(retried) >= 2


def test_a_failure_that_persists_is_resumed_without_duplicates(
    world: Fleet, tmp_path: Path
) -> None:
    store, state = DuckDBStore(tmp_path / "m.duckdb"), MemoryStore()
    # Page 3 of one GitLab group fails past every in-call retry.
    for _ in range(5):
        world.gitlab.fault(
            "GET", r"/groups/data/projects", Fault("status", 503, {}, {"m": "down"}, commits=False)
        )
    _, first = run(world, store, state)
    assert first.failed and {s.scm for s in first.scms if s.errors} == {"gitlab"}
    world.gitlab.clear_faults()
    before = len([r for r in world.gitlab.requests if "/groups/platform/projects" in r.path])
    _, second = run(world, store, state)
    assert not second.failed, second.to_dict()
    gitlab = next(s for s in second.scms if s.scm == "gitlab")
    assert gitlab.resumed_owners == 1  # "platform" was done; only "data" was listed again
    after = len([r for r in world.gitlab.requests if "/groups/platform/projects" in r.path])
    assert after == before
    assert counts(store) == world.counts and gitlab.deleted == 0


def test_a_page_bound_warns_and_marks_nothing_deleted(world: Fleet, tmp_path: Path) -> None:
    store, state = DuckDBStore(tmp_path / "m.duckdb"), MemoryStore()
    run(world, store, state)
    _, bounded = run(world, store, state, "full", INVENTORY_MAX_PAGES="2")
    github = next(s for s in bounded.scms if s.scm == "github")
    assert not github.complete and github.deleted == 0
    assert counts(store) == world.counts


def test_rate_limit_headers_are_respected_before_the_next_request(
    world: Fleet, tmp_path: Path
) -> None:
    store, state = DuckDBStore(tmp_path / "m.duckdb"), MemoryStore()
    world.azure.throttle_after = 5  # type: ignore[attr-defined]
    world.github.rate.remaining = 30  # type: ignore[attr-defined]
    world.github.rate.reset = time.time() + 5  # type: ignore[attr-defined]
    waits: list[float] = []
    sync = build_sync(world.env(), metrics=store, state=state, sleep=waits.append)
    report = sync.run("full")
    assert not report.failed
    by = {s.scm: s for s in report.scms}
    assert by["azure"].rate_waited_s > 0 and by["github"].rate_waited_s > 0
    assert waits and all(w <= 60 for w in waits)


def test_a_window_reopening_too_late_stops_the_listing_for_a_later_run(
    world: Fleet, tmp_path: Path
) -> None:
    store, state = DuckDBStore(tmp_path / "m.duckdb"), MemoryStore()
    world.github.rate.remaining = 10  # type: ignore[attr-defined]
    world.github.rate.reset = time.time() + 3600  # type: ignore[attr-defined]
    _, report = run(world, store, state)
    github = next(s for s in report.scms if s.scm == "github")
    assert github.errors and "INVENTORY_RATE_MAX_WAIT_S" in github.errors[0]
    assert github.deleted == 0
