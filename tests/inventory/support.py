"""Repository records for the audit tests (the shape every lister returns), and the findings
an audit published to a ``file:`` target."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from cievents import clock
from cievents.findings import FindingMessage
from cievents.inventory.model import Repo

__all__ = ["make_repo", "published"]


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


def published(path: Path) -> list[FindingMessage]:
    """The findings published to ``file:PATH``, in order (none when nothing was)."""
    if not path.exists():
        return []
    return [
        FindingMessage.from_bytes(base64.b64decode(json.loads(line)["data"]))
        for line in path.read_text().splitlines()
    ]
