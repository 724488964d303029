"""Repository records for the audit tests (the shape every lister returns)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cievents import clock
from cievents.inventory.model import Repo

__all__ = ["make_repo"]


def make_repo(scm: Any, full_name: str, id_: str, **changes: Any) -> Repo:
    """An active private repository with a ``main`` branch, pushed two days ago."""
    owner, _, name = full_name.rpartition("/")
    base = Repo(
        scm=scm,
        id=id_,
        owner=owner,
        name=name,
        full_name=full_name,
        web_url=f"https://example.test/{full_name}",
        visibility="private",
        default_branch="main",
        last_push=clock.now_utc() - timedelta(days=2),
    )
    return base.with_(**changes)
