"""The demo's inventory: a GitHub organization served from ``examples/inventory``, listed by
repo_inventory on a scheduler tick and audited, and the ``assets`` it wrote as a table.

The stand-in speaks the REST shapes the inventory and its audit read, with ``X-RateLimit-*``
headers: ``GET /orgs/{org}/repos`` (paged by ``Link`` headers, three to a page so the paging
shows), ``GET /repositories/{id}`` (a webhook's repository), ``GET /repos/{r}`` (with
``security_and_analysis``), ``GET /repos/{r}/branches/{b}/protection`` (404 "Branch not
protected" where the example has none) and ``GET /repos/{r}/rules/branches/{b}`` (no
rulesets). Times are relative: ``_pushed_days_ago`` days before now (``cievents.clock``).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cievents import clock

__all__ = ["ORG", "InventoryStandIn", "inventory_table"]

ORG = "acme-inc"
PAGE = 3
_ORG_REPOS = re.compile(r"^/orgs/(?P<org>[^/]+)/repos$")
_BY_ID = re.compile(r"^/repositories/(?P<id>\d+)$")
_REPO = re.compile(
    r"^/repos/(?P<repo>[^/]+/[^/]+)(?P<rest>/branches/[^/]+/protection|/rules/branches/[^/]+)?$"
)
_OWN = "_"  # keys of the example that are the stand-in's, not GitHub's


class InventoryStandIn:
    def __init__(self, examples: Path) -> None:
        self.repos: list[dict[str, Any]] = []
        now = clock.now_utc()
        for path in sorted(examples.glob("github-*.json")):
            for repo in json.loads(path.read_text("utf-8"))["repositories"]:
                pushed = now - timedelta(days=int(repo.get("_pushed_days_ago", 1)))
                stamp = pushed.strftime("%Y-%m-%dT%H:%M:%SZ")
                self.repos.append({**repo, "pushed_at": stamp, "updated_at": stamp})
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
            return 200, [_public(r) for r in repos[(page - 1) * PAGE : page * PAGE]], headers
        if found := _BY_ID.match(parts.path):
            repo = next((r for r in self.repos if r["id"] == int(found["id"])), None)
        elif found := _REPO.match(parts.path):
            repo = next((r for r in self.repos if r["full_name"] == found["repo"]), None)
            rest = found["rest"] or ""
            if repo is not None and rest.endswith("/protection"):
                protection = repo.get("_protection")
                if protection is None:
                    return 404, {"message": "Branch not protected"}, headers
                return 200, protection, headers
            if repo is not None and rest.startswith("/rules/"):
                return 200, [], headers
            if repo is not None:
                analysis = repo.get("_security_and_analysis") or {}
                return 200, {**_public(repo), "security_and_analysis": analysis}, headers
        else:
            repo = None
            found = None
        if found is not None and repo is not None:
            return 200, _public(repo), headers
        return 404, {"message": "Not Found"}, headers

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


def _public(repo: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in repo.items() if not k.startswith(_OWN)}


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
