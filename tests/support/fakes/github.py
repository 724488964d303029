"""A loopback GitHub REST API for commit statuses, with GitHub's secondary rate limit.

    with FakeGitHub(token="gh-test-token", writes_per_window=80, window_s=60) as gh:
        client = GitHubClient(api_url=gh.url, token="gh-test-token")

``POST /repos/{owner}/{repo}/statuses/{sha}`` creates a status (201, the
status object) as https://docs.github.com/en/rest/commits/statuses documents
it; a wrong token is 401 ``Bad credentials``. Content-creating requests are
limited as GitHub's secondary rate limit is: more than ``writes_per_window``
in any ``window_s`` seconds is refused with 403 and the documented message
("You have exceeded a secondary rate limit"), with ``retry-after`` (seconds,
tenths when the window is under a minute, for benchmarks that scale time)
saying when the oldest write leaves the window. Every accepted status is kept
in ``statuses`` with the moment it was accepted.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.fakehttp import FakeServer, Reply, Request

__all__ = ["FakeGitHub", "Status"]

SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


@dataclass(frozen=True)
class Status:
    repo: str
    sha: str
    state: str
    context: str
    at: float


class FakeGitHub(FakeServer):
    def __init__(
        self,
        token: str = "gh-test-token",
        writes_per_window: int | None = None,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.token = token
        self.statuses: list[Status] = []
        self.refused = 0
        self._limit = writes_per_window
        self._window = window_s
        self._clock = clock
        self._writes: deque[float] = deque()
        self._pace = threading.Lock()
        ids = itertools.count(1)

        @self.route(
            "POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/statuses/(?P<sha>[0-9a-f]{7,40})"
        )
        def status(req: Request) -> Reply:
            if req.headers.get("authorization") not in (f"Bearer {token}", f"token {token}"):
                return Reply(401, {"message": "Bad credentials"})
            if (refused := self._limited()) is not None:
                return refused
            body = req.json() or {}
            assert req.match is not None
            self.statuses.append(
                Status(
                    f"{req.match['owner']}/{req.match['repo']}",
                    req.match["sha"],
                    str(body.get("state")),
                    str(body.get("context") or "default"),
                    self._clock(),
                )
            )
            return Reply(201, {"id": next(ids), "state": body.get("state"), **_echo(body)})

    def _limited(self) -> Reply | None:
        if self._limit is None:
            return None
        with self._pace:
            now = self._clock()
            while self._writes and self._writes[0] <= now - self._window:
                self._writes.popleft()
            if len(self._writes) >= self._limit:
                self.refused += 1
                wait = self._writes[0] + self._window - now
                seconds = math.ceil(wait) if self._window >= 60 else math.ceil(wait * 10) / 10
                return Reply(
                    403,
                    {
                        "message": SECONDARY_LIMIT,
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                    },
                    {"retry-after": str(seconds)},
                )
            self._writes.append(now)
        return None


def _echo(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body.get(k) for k in ("description", "context", "target_url")}
