"""The Repo record: its key, status, validation and row round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cievents.inventory.model import Repo, parse_time
from tests.inventory.fleet import record

_repo = record


def test_key_is_scm_and_stable_id_not_name() -> None:
    a = _repo()
    renamed = a.with_(name="api2", full_name="acme/api2")
    assert a.key == renamed.key == "github:123"


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, "active"),
        ({"archived": True}, "archived"),
        ({"disabled": True}, "disabled"),
        ({"empty": True}, "empty"),
        ({"deleted": True, "archived": True}, "deleted"),
    ],
)
def test_status_and_active(changes: dict[str, object], status: str) -> None:
    repo = _repo(**changes)
    assert repo.status == status
    assert repo.active is (status == "active")


def test_rejects_bad_scm_visibility_naive_time_and_empty_id() -> None:
    with pytest.raises(ValueError, match="scm"):
        _repo(scm="sourceforge")
    with pytest.raises(ValueError, match="visibility"):
        _repo(visibility="secret")
    with pytest.raises(ValueError, match="id"):
        _repo(id="")
    with pytest.raises(ValueError, match="timezone"):
        _repo(last_push=datetime(2026, 1, 1))  # the naive time under test


def test_row_round_trip() -> None:
    repo = _repo(
        last_push=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        languages=("Python", "Go"),
        size_kb=42,
        default_branch="main",
        head_sha="a" * 40,
    )
    assert Repo.from_row(repo.to_row()) == repo


def test_parse_time_vendor_shapes() -> None:
    want = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert parse_time("2026-03-04T05:06:07Z") == want
    # Azure/Bitbucket: seven-digit fractions and offsets
    assert parse_time("2026-03-04T05:06:07.1234567+00:00") == want.replace(microsecond=123456)
    east = datetime(2026, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    assert parse_time("2026-03-04T07:06:07+02:00") == east
    assert parse_time(None) is None
    assert parse_time("not a time") is None
