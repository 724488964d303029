"""Small helpers the vendor modules share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cievents.envelope import parse_time
from cievents.events import CommitInfo
from cievents.payload import ascii_digits

ZERO_SHA = re.compile(r"^0{40}$")


def s(value: Any) -> str | None:
    """A non-empty string, or None."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def integer(value: Any) -> int | None:
    """An int, or a string of digits as one (ids some vendors send as strings); else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and ascii_digits(value):
        return int(value)
    return None


def o(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def dig(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def lenient_time(value: Any) -> datetime | None:
    """Vendors' many timestamp spellings (RFC 3339, '2016-08-12 15:23:28 UTC', epoch ms);
    None for anything else, since these times are informative, not keys."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace(" UTC", "+00:00")
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1).replace(" ", "")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return parse_time(text)


def branch_of(ref: str | None) -> str | None:
    if ref and ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :]
    return None


def tag_of(ref: str | None) -> str | None:
    if ref and ref.startswith("refs/tags/"):
        return ref[len("refs/tags/") :]
    return None


def push_commits(body: Mapping[str, Any]) -> tuple[CommitInfo, ...]:
    """``commits`` of a push in the shape GitHub and GitLab share: id, message,
    author {name, email}, timestamp, url."""
    from cievents.payload import req_str

    return tuple(
        CommitInfo(
            id=req_str(c, "id", "commits[]"),
            message=s(c.get("message")) or "",
            author=s(dig(c, "author", "name")),
            author_email=s(dig(c, "author", "email")),
            timestamp=lenient_time(c.get("timestamp")),
            url=s(c.get("url")),
        )
        for c in body.get("commits") or []
        if isinstance(c, Mapping)
    )


def real_sha(value: str | None) -> str | None:
    return None if value is None or ZERO_SHA.match(value) else value
