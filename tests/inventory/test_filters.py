"""RepoFilter: every key on its own, combined, and the one-line errors of the setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cievents import clock
from cievents.errors import ConfigError
from cievents.inventory.filters import RepoFilter
from cievents.inventory.model import Repo
from tests.inventory.fleet import record


def repo(**kw: object) -> Repo:
    base: dict[str, object] = {
        "scm": "gitlab",
        "owner": "platform/infra",
        "full_name": "platform/infra/api",
        "visibility": "internal",
        "default_branch": "main",
        "languages": ("Python", "Shell"),
        "size_kb": 120,
    }
    return record(**{**base, **kw})


def test_each_key() -> None:
    now = clock.now_utc()
    old = repo(last_push=now - timedelta(days=200))
    fresh = repo(last_push=now - timedelta(days=2))
    assert RepoFilter.parse("status=active").matches(repo())
    assert not RepoFilter.parse("status=active").matches(repo(archived=True))
    assert RepoFilter.parse("status=archived,empty").matches(repo(empty=True))
    assert RepoFilter.parse("visibility=public,internal").matches(repo())
    assert not RepoFilter.parse("visibility=public").matches(repo())
    assert RepoFilter.parse("branch=ma*").matches(repo())
    assert not RepoFilter.parse("branch=master").matches(repo(default_branch=None))
    assert RepoFilter.parse("language=python").matches(repo())
    assert not RepoFilter.parse("language=go").matches(repo())
    assert RepoFilter.parse("name=platform/*").matches(repo())
    assert RepoFilter.parse("stale_days=90").matches(old, now)
    assert not RepoFilter.parse("stale_days=90").matches(fresh, now)
    assert RepoFilter.parse("stale_days=90").matches(repo(), now)  # never pushed
    assert RepoFilter.parse("pushed_within_days=7").matches(fresh, now)
    assert not RepoFilter.parse("pushed_within_days=7").matches(old, now)
    stamp = datetime(2026, 1, 15, tzinfo=UTC)
    assert RepoFilter.parse("pushed_after=2026-01-01").matches(repo(last_push=stamp))
    assert not RepoFilter.parse("pushed_before=2026-01-01").matches(repo(last_push=stamp))
    assert RepoFilter.parse("min_size_kb=100 max_size_kb=200").matches(repo())
    assert not RepoFilter.parse("max_size_kb=100").matches(repo())
    assert RepoFilter().empty and not RepoFilter.parse("status=active").empty


def test_all_terms_must_hold() -> None:
    both = RepoFilter.parse("status=active visibility=public")
    assert not both.matches(repo())
    assert both.matches(repo(visibility="public"))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("colour=blue", "'colour=blue' is not key=value"),
        ("status=gone", "status 'gone'"),
        ("visibility=secret", "visibility 'secret'"),
        ("stale_days=soon", "'stale_days=soon'"),
        ("pushed_after=yesterday", "expected a date"),
        ("status=", "'status=' is not key=value"),
    ],
)
def test_bad_terms_name_the_setting(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        RepoFilter.parse(text)
    message = str(raised.value)
    assert "INVENTORY_AUDIT_FILTER" in message and says in message
    assert "\n" not in message
