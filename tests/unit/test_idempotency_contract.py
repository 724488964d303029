"""One contract, every backend: memory, SQLite, Firestore (emulator), GCS (fake-gcs-server)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cievents.errors import RateLimitedError
from cievents.idempotency import State, Store, get_states, open_store, update_state
from cievents.idempotency.memory import MemoryStore
from cievents.idempotency.sqlite import SQLiteStore
from cievents.ratelimit import Budget, Limit
from tests.support.emulators import RunningServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _firestore(server: RunningServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Store:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from cievents.idempotency.firestore import FirestoreStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", server.host)
    client = firestore.Client(project="cievents-test", credentials=AnonymousCredentials())
    return FirestoreStore(collection=f"t{uuid.uuid4().hex[:8]}", client=client, clock=clock)


def _gcs(server: RunningServer, clock: FakeClock) -> Store:
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials

    from cievents.idempotency.gcs import GCSStore

    client = storage.Client(
        project="cievents-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://{server.host}"},
    )
    name = f"b{uuid.uuid4().hex[:12]}"
    client.create_bucket(name)
    return GCSStore(bucket=name, prefix="idem", client=client, clock=clock)


BACKENDS = ["memory", "sqlite", pytest.param("firestore", marks=pytest.mark.java_emulator), "gcs"]


@pytest.fixture(params=BACKENDS)
def store_and_clock(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Store, FakeClock]]:
    clock = FakeClock()
    if request.param == "memory":
        yield MemoryStore(clock=clock), clock
    elif request.param == "sqlite":
        yield SQLiteStore(tmp_path / "state.sqlite3", clock=clock), clock
    elif request.param == "firestore":
        server = request.getfixturevalue("firestore_emulator")
        yield _firestore(server, clock, monkeypatch), clock
    else:
        server = request.getfixturevalue("gcs_emulator")
        yield _gcs(server, clock), clock


def test_first_claim_wins_and_a_done_key_is_a_duplicate(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, _ = store_and_clock
    first = store.claim("fn:evt-1", lease_s=60)
    assert first.status == "claimed" and first.token
    assert store.claim("fn:evt-1", lease_s=60).status == "busy"
    assert store.complete("fn:evt-1", first.token, "acted")
    assert store.claim("fn:evt-1").status == "duplicate"
    assert store.claim("fn:evt-2").status == "claimed"


def test_release_lets_a_retry_claim_again(store_and_clock: tuple[Store, FakeClock]) -> None:
    store, _ = store_and_clock
    claim = store.claim("fn:retry")
    assert store.release("fn:retry", claim.token)
    again = store.claim("fn:retry")
    assert again.status == "claimed" and again.token != claim.token


def test_expired_lease_is_taken_over_and_the_old_owner_is_locked_out(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, clock = store_and_clock
    old = store.claim("fn:slow", lease_s=30)
    clock.now += 31
    new = store.claim("fn:slow", lease_s=30)
    assert new.status == "claimed" and new.taken_over
    # The execution whose lease expired can neither complete nor delete the new claim.
    assert not store.complete("fn:slow", old.token)
    assert not store.release("fn:slow", old.token)
    assert store.claim("fn:slow").status == "busy"
    assert store.complete("fn:slow", new.token)
    assert store.claim("fn:slow").status == "duplicate"


def test_done_records_expire_in_code(store_and_clock: tuple[Store, FakeClock]) -> None:
    store, clock = store_and_clock
    claim = store.claim("fn:old")
    assert store.complete("fn:old", claim.token, ttl_s=100)
    clock.now += 101
    assert store.claim("fn:old").status == "claimed"


def test_complete_twice_and_unknown_tokens_are_refused(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, _ = store_and_clock
    claim = store.claim("fn:x")
    assert not store.complete("fn:x", "not-the-owner")
    assert store.complete("fn:x", claim.token)
    assert not store.complete("fn:x", claim.token)
    assert not store.release("fn:x", claim.token)
    assert not store.release("fn:missing", "whatever")


def test_state_is_versioned_and_refuses_stale_writers(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, _ = store_and_clock
    empty = store.get_state("slack:build-1")
    assert empty.version == 0 and dict(empty.value) == {}
    assert store.set_state("slack:build-1", {"ts": "1.0", "channel": "C1"}, expected_version=0)
    current = store.get_state("slack:build-1")
    assert dict(current.value) == {"ts": "1.0", "channel": "C1"} and current.version > 0
    # A writer that read before this write loses.
    assert not store.set_state("slack:build-1", {"ts": "2.0"}, expected_version=0)
    assert store.set_state("slack:build-1", {"ts": "2.0"}, expected_version=current.version)
    assert store.get_state("slack:build-1").value["ts"] == "2.0"
    # Unconditional writes always land.
    assert store.set_state("slack:build-1", {"ts": "3.0"})
    assert store.get_state("slack:build-1").value["ts"] == "3.0"


def test_get_states_reads_several_keys_in_order(store_and_clock: tuple[Store, FakeClock]) -> None:
    store, _ = store_and_clock
    assert store.set_state("fn:b", {"n": 2})
    assert store.set_state("fn:a", {"n": 1})
    assert store.set_state("fn:a", {"n": 3}, expected_version=store.get_state("fn:a").version)
    keys = ["fn:a", "fn:missing", "fn:b", "fn:a"]
    states = get_states(store, keys)
    assert [s.value for s in states] == [{"n": 3}, {}, {"n": 2}, {"n": 3}]
    # the versions are the ones a read of each key gives, so a versioned write can follow
    assert [s.version for s in states] == [store.get_state(k).version for k in keys]
    assert states[1].version == 0
    assert store.set_state("fn:b", {"n": 4}, expected_version=states[2].version)
    assert get_states(store, []) == []


def test_concurrent_claims_have_exactly_one_winner(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, _ = store_and_clock
    barrier = threading.Barrier(6)

    def attempt(_: int) -> str:
        barrier.wait()
        return store.claim("fn:race").status

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(attempt, range(6)))
    assert statuses.count("claimed") == 1
    assert set(statuses) <= {"claimed", "busy"}


def test_update_state_merges_concurrent_increments(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, _ = store_and_clock

    def bump(value: Any) -> dict[str, Any]:
        return {"n": int(value.get("n", 0)) + 1}

    increments: Callable[[int], Any] = lambda _: update_state(store, "counter", bump, attempts=50)  # noqa: E731
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(increments, range(8)))
    assert store.get_state("counter").value["n"] == 8


def test_update_state_from_a_known_state_skips_the_read_and_survives_a_stale_one(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, _ = store_and_clock

    def bump(value: Any) -> dict[str, Any]:
        return {"n": int(value.get("n", 0)) + 1}

    update_state(store, "known", bump)
    read = store.get_state("known")
    assert update_state(store, "known", bump, known=read) == {"n": 2}
    # ``read`` is stale now: its write is refused, the next attempt reads and still adds one
    assert update_state(store, "known", bump, known=read) == {"n": 3}
    assert store.get_state("known").value == {"n": 3}


def test_budget_books_slots_in_order_and_refuses_past_the_wait(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, clock = store_and_clock
    budget = Budget(store, clock=clock)
    per_second = Limit(1, 1.0)
    assert [budget.reserve("slack:#ci", per_second, max_wait_s=5) for _ in range(3)] == [
        0.0,
        1.0,
        2.0,
    ]
    assert budget.backlog("slack:#ci") == 3.0
    with pytest.raises(RateLimitedError) as refused:
        budget.reserve("slack:#ci", per_second, max_wait_s=2.5)
    assert refused.value.retry_after == 3.0
    assert budget.backlog("slack:#ci") == 3.0  # a refusal books nothing
    assert budget.reserve("slack:#other", per_second, max_wait_s=0) == 0.0  # its own budget
    clock.now += 10  # the schedule does not bank unused time
    assert budget.reserve("slack:#ci", per_second, max_wait_s=0) == 0.0
    assert budget.reserve("slack:#ci", per_second, max_wait_s=5) == 1.0


def test_budget_pause_closes_the_window_for_everyone(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, clock = store_and_clock
    first, second = Budget(store, clock=clock), Budget(store, clock=clock)  # two instances
    first.pause("github:api.github.com:writes", 42)
    assert second.backlog("github:api.github.com:writes") == 42.0
    assert second.reserve("github:api.github.com:writes", Limit(80, 60), max_wait_s=60) == 42.0
    first.pause("github:api.github.com:writes", 1)  # an earlier reopening never shortens it
    assert first.backlog("github:api.github.com:writes") == 42.75


def test_concurrent_reservations_get_distinct_slots(
    store_and_clock: tuple[Store, FakeClock],
) -> None:
    store, clock = store_and_clock
    barrier = threading.Barrier(6)

    def book(_: int) -> float:
        budget = Budget(store, clock=clock)
        barrier.wait()
        return budget.reserve("slack:#burst", Limit(1, 1.0), max_wait_s=60)

    with ThreadPoolExecutor(6) as pool:
        waits = list(pool.map(book, range(6)))
    assert sorted(waits) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_open_store_parses_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    assert isinstance(open_store(f"sqlite:{tmp_path / 'x.db'}"), SQLiteStore)
    from cievents.errors import ConfigError

    with pytest.raises(ConfigError, match="CIEVENTS_STORE"):
        open_store("redis://nope")
    with pytest.raises(ConfigError, match="bucket"):
        open_store("gcs:")
    # Local default when nothing is set and not on Cloud Run: a SQLite file under .cievents/.
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store(environ={}), SQLiteStore)
    assert (tmp_path / ".cievents" / "state.sqlite3").exists()


@pytest.mark.java_emulator
def test_firestore_one_call_writes_still_refuse_what_another_instance_changed(
    firestore_emulator: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances on one collection. A versioned write from what an instance last read
    or wrote is one call on that document's update time, and a completion of its own claim
    is one write: each must still lose to the other instance's change in between."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from cievents.idempotency.firestore import FirestoreStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    client = firestore.Client(project="cievents-test", credentials=AnonymousCredentials())
    collection = f"t{uuid.uuid4().hex[:8]}"
    clock = FakeClock()
    a = FirestoreStore(collection=collection, client=client, clock=clock)
    b = FirestoreStore(collection=collection, client=client, clock=clock)

    assert a.set_state("fn:s", {"n": 1}, expected_version=0)
    seen = a.get_state("fn:s")
    assert b.set_state("fn:s", {"n": 2}, expected_version=b.get_state("fn:s").version)
    assert not a.set_state("fn:s", {"n": 3}, expected_version=seen.version)  # stale: refused
    assert a.get_state("fn:s").value == {"n": 2}
    again = a.get_state("fn:s")
    assert a.set_state("fn:s", {"n": 4}, expected_version=again.version)
    assert a.set_state("fn:s", {"n": 5}, expected_version=again.version + 1)  # its own write
    assert b.get_state("fn:s").value == {"n": 5}
    # An unconditional write from what this instance last saw is one call too; when the
    # other instance wrote in between, it still lands, on top of that write.
    assert b.set_state("fn:s", {"n": 6})
    assert a.set_state("fn:s", {"n": 7})
    assert b.get_state("fn:s") == State({"n": 7}, 6)
    assert a.set_state("fn:s", {"n": 8}) and a.get_state("fn:s") == State({"n": 8}, 7)

    old = a.claim("fn:c", lease_s=30)
    clock.now += 31
    new = b.claim("fn:c", lease_s=30)
    assert new.taken_over
    assert not a.complete("fn:c", old.token) and not a.release("fn:c", old.token)
    assert b.complete("fn:c", new.token)
    assert a.claim("fn:c").status == "duplicate"
