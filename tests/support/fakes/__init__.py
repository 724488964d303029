"""Loopback fakes of vendor APIs, one module per vendor, built on ``tests.support.fakehttp``.

Each speaks the vendor's documented request and response shapes closely enough
for the real client code to run against it unchanged; tests assert on what the
fake received. Extend a vendor's module rather than writing a second fake.

The SCM fakes (github, gitlab, bitbucket, azure_devops) keep what a client wrote
(comments, statuses, checks, …) so a test asserts on the vendor's end state, and page
their lists the vendor's way (``page_size`` small in tests, so pagination is exercised).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from tests.support.fakehttp import Reply, Request

__all__ = ["link_paged", "next_paged", "query_int"]


def query_int(req: Request, name: str, default: int) -> int:
    values = req.query.get(name)
    try:
        return int(values[0]) if values else default
    except ValueError:
        return default


def link_paged(req: Request, items: list[Any], page_size: int, max_per_page: int = 100) -> Reply:
    """One page of ``items`` with an RFC 8288 ``Link: <…>; rel="next"`` header (GitHub, GitLab)."""
    per_page = min(query_int(req, "per_page", 30), max_per_page, page_size)
    page = max(1, query_int(req, "page", 1))
    chunk = items[(page - 1) * per_page : page * per_page]
    headers: dict[str, str] = {}
    if page * per_page < len(items):
        query = {k: v[0] for k, v in req.query.items()}
        query.update(page=str(page + 1), per_page=str(per_page))
        headers["Link"] = f'<http://{req.headers["host"]}{req.path}?{urlencode(query)}>; rel="next"'
        headers["X-Next-Page"] = str(page + 1)
    return Reply(200, chunk, headers=headers)


def next_paged(req: Request, items: list[Any], page_size: int, max_per_page: int = 100) -> Reply:
    """One page of ``items`` in Bitbucket Cloud's shape: ``values``, ``page``, ``pagelen``,
    ``size`` and the ``next`` URL while more remain."""
    pagelen = min(query_int(req, "pagelen", 10), max_per_page, page_size)
    page = max(1, query_int(req, "page", 1))
    body: dict[str, Any] = {
        "pagelen": pagelen,
        "page": page,
        "size": len(items),
        "values": items[(page - 1) * pagelen : page * pagelen],
    }
    if page * pagelen < len(items):
        query = {k: v[0] for k, v in req.query.items()}
        query.update(pagelen=str(pagelen), page=str(page + 1))
        body["next"] = f"http://{req.headers['host']}{req.path}?{urlencode(query)}"
    return Reply(200, body)
