"""The demo's inventory: a GitHub organization served from ``examples/inventory``, listed by
repo_inventory on a scheduler tick, and the ``assets`` it wrote as a table.

The stand-in speaks the listing's REST shapes (``GET /orgs/{org}/repos`` paged by ``Link``
headers, three to a page so the paging shows; ``GET /repositories/{id}`` for a webhook's
repository) with ``X-RateLimit-*`` headers, from ``examples/inventory/github-<org>.json``.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["ORG", "InventoryStandIn", "inventory_table"]

ORG = "acme-inc"
PAGE = 3
_ORG_REPOS = re.compile(r"^/orgs/(?P<org>[^/]+)/repos$")
_BY_ID = re.compile(r"^/repositories/(?P<id>\d+)$")


class InventoryStandIn:
    def __init__(self, examples: Path) -> None:
        self.repos: list[dict[str, Any]] = []
        for path in sorted(examples.glob("github-*.json")):
            self.repos += json.loads(path.read_text("utf-8"))["repositories"]
        self.remaining = 5000
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    def answer(self, path: str, port: int) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(path)
        with self._lock:
            self.remaining -= 1
            headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(self.remaining)}
        if found := _ORG_REPOS.match(parts.path):
            repos = [r for r in self.repos if r["owner"]["login"] == found["org"]]
            page = int((parse_qs(parts.query).get("page") or ["1"])[0])
            if page * PAGE < len(repos):
                headers["Link"] = (
                    f"<http://127.0.0.1:{port}{parts.path}?per_page={PAGE}&page={page + 1}>; "
                    'rel="next"'
                )
            return 200, repos[(page - 1) * PAGE : page * PAGE], headers
        if found := _BY_ID.match(parts.path):
            repo = next((r for r in self.repos if r["id"] == int(found["id"])), None)
            return (200, repo, headers) if repo else (404, {"message": "Not Found"}, headers)
        return 404, {"message": "the demo's inventory serves listings only"}, headers

    def serve(self) -> int:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                status, body, headers = stand_in.answer(self.path, stand_in.port)
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def inventory_table(database: Path) -> tuple[str, dict[str, int]]:
    """The assets as ``cievents inventory`` prints them, and the count of each status."""
    from cievents.cli.inventory import table
    from cievents.inventory.assets import AssetStore
    from cievents.metrics.duckdb_store import DuckDBStore

    repos = AssetStore(DuckDBStore(database)).all()
    counts: dict[str, int] = {}
    for repo in repos:
        counts[repo.status] = counts.get(repo.status, 0) + 1
    return table(repos), counts
