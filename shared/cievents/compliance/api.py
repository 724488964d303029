"""Reading a vendor's API for one evaluation: bounded pagination and a per-execution cache.

Every list is read page by page up to ``max_pages`` (``SCM_MAX_PAGES``); at the
bound the list is cut, a warning is logged and the caller is told (``Page.truncated``),
so a check can say its answer covers the first pages only. Answers are cached for the
life of one ``Api`` object, which the function creates per message: two checks needing
the same list cost one request, and nothing stale survives into the next event.

Reads go to the vendor even in dry run (the verdict must be computed from the real
state); only writes are recorded in the outbox instead of sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cievents import log
from cievents.errors import UnknownTargetError, ValidationError
from cievents.http import HttpClient

__all__ = ["Api", "Page", "Paging"]

Paging = Literal["link", "next", "continuation", "skip"]
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class Page:
    items: list[Any]
    truncated: bool = False


class Api:
    def __init__(
        self,
        http: HttpClient,
        *,
        max_pages: int = 10,
        per_page: int = 100,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.http = http
        self.headers = dict(headers or {})
        self.max_pages = max_pages
        self.per_page = per_page
        self._cache: dict[str, Any] = {}
        self.requests = 0

    def _key(self, path: str, params: Mapping[str, Any] | None, extra: str = "") -> str:
        return json.dumps([path, sorted((params or {}).items()), extra], default=str)

    def _send(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        what: str,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        self.requests += 1
        merged = {**self.headers, **(headers or {})}
        return self.http.get(path, params=params, what=what, headers=merged or None)

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str = "",
        missing_ok: bool = False,
        accept: str | None = None,
    ) -> Any:
        """One JSON object (or text with ``accept``); None for a 404 when ``missing_ok``."""
        key = self._key(path, params, accept or "")
        if key in self._cache:
            return self._cache[key]
        headers = {"Accept": accept} if accept else None
        try:
            response = self._send(
                path, params, what or f"{self.http.sink}: GET {path}", headers=headers
            )
        except UnknownTargetError:
            if not missing_ok:
                raise
            self._cache[key] = None
            return None
        value = response.text if accept and "json" not in accept else _json(response, what or path)
        self._cache[key] = value
        return value

    def pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        paging: Paging,
        items: str | None = None,
        what: str = "",
    ) -> Page:
        """Every item of a list, following the vendor's paging style, up to the page bound.

        ``link``: RFC 8288 ``Link: <…>; rel="next"`` (GitHub, GitLab); ``next``: the body's
        ``next`` URL (Bitbucket); ``continuation``: the ``x-ms-continuationtoken`` header
        (Azure); ``skip``: ``$top``/``$skip`` until a short page (Azure lists without a token).
        ``items`` names the list inside the body (``values``, ``value``, ``check_runs``).
        """
        key = self._key(path, params, f"pages:{paging}:{items}")
        if key in self._cache:
            cached: Page = self._cache[key]
            return cached
        label = what or f"{self.http.sink}: GET {path}"
        query: dict[str, Any] = dict(params or {})
        if paging == "link":
            query.setdefault("per_page", self.per_page)
        elif paging == "next":
            query.setdefault("pagelen", min(self.per_page, 50))  # Bitbucket caps pagelen at 50-100
        else:
            query.setdefault("$top", self.per_page)
        found: list[Any] = []
        url: str | None = path
        page = 0
        while url is not None:
            if page >= self.max_pages:
                log.logger.warning(
                    "list cut at the page bound",
                    sink=self.http.sink,
                    path=path,
                    pages=page,
                    items=len(found),
                    setting="SCM_MAX_PAGES",
                )
                result = Page(found, truncated=True)
                self._cache[key] = result
                return result
            response = self._send(url, query, label)
            page += 1
            body = _json(response, label)
            chunk = body.get(items) if items and isinstance(body, Mapping) else body
            if not isinstance(chunk, list):
                raise ValidationError(f"{label}: expected a list, got {type(chunk).__name__}")
            found.extend(chunk)
            url, query = _next(paging, url, query, response, body, len(chunk), self.per_page)
        result = Page(found)
        self._cache[key] = result
        return result


def _json(response: Any, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ValidationError(f"{what}: the answer is not JSON", reason="bad_json") from None


def _next(
    paging: Paging,
    url: str,
    query: dict[str, Any],
    response: Any,
    body: Any,
    count: int,
    per_page: int,
) -> tuple[str | None, dict[str, Any]]:
    headers = getattr(response, "headers", {}) or {}
    if paging == "link":
        match = _NEXT.search(headers.get("Link") or headers.get("link") or "")
        return (match.group(1), {}) if match else (None, query)
    if paging == "next":
        nxt = body.get("next") if isinstance(body, Mapping) else None
        return (str(nxt), {}) if nxt else (None, query)
    if paging == "continuation":
        token = headers.get("x-ms-continuationtoken") or headers.get("X-MS-ContinuationToken")
        if not token:
            return None, query
        return url, {**query, "continuationToken": token}
    if count < per_page:
        return None, query
    return url, {**query, "$skip": int(query.get("$skip", 0)) + count}
