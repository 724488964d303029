"""``cievents report --serve``: the report page over local HTTP, redrawn as the database moves.

A ``LiveReport`` watches the metrics database (its file and DuckDB's write-ahead log: size
and modification time) and redraws the page when either changed; the page it serves carries
a small script that asks ``/version`` every two seconds and reloads when the number moved.
The file written to ``--out`` stays the self-contained page, with no script. While the
database does not exist yet (``make demo`` has just cleared ``.demo/``) or is busy with a
writer, the last page stays up (or a page saying what it waits for) and the next look
tries again. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["LiveReport", "serve"]

RELOAD = """<div class=live>live: redrawn when {db} changes</div><script>
(function(){{var v="{version}";setInterval(function(){{
fetch("/version",{{cache:"no-store"}}).then(function(r){{return r.text()}})
.then(function(t){{if(t.trim()!==v)location.reload()}}).catch(function(){{}})}},2000)}})()
</script>"""

WAITING = """<!doctype html><meta charset=utf-8><meta name=color-scheme content="light dark">
<link rel=icon href="data:,">
<title>Build health: waiting</title><style>body{{font:15px system-ui,sans-serif;margin:3em}}
</style><h1>Build health</h1><p>{message}</p>"""


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class LiveReport:
    """The current page for ``db``; ``render(first)`` (given) draws it from the database:
    the first drawing may write to it (it makes the views), later ones must not."""

    def __init__(self, db: Path, out: Path, render: Callable[[bool], str]) -> None:
        self.db, self.out, self._render = db, out, render
        self.version = 0
        self.page = WAITING.format(message=f"Waiting for {html.escape(str(db))} to appear.")
        self.error = ""
        self._seen: object = None
        self._lock = threading.Lock()

    def signature(self) -> object:
        return (_stat(self.db), _stat(self.db.with_name(self.db.name + ".wal")))

    def refresh(self) -> bool:
        """Redraw when the database changed since the last drawing; True when it did."""
        with self._lock:
            if self.signature() == self._seen:
                return False
            if not self.db.exists():
                self._seen = self.signature()
                return False
            first = self.version == 0
            before = self.signature()
            try:
                page = self._render(first)
                # What was seen is the file before this drawing: a change made during it is
                # drawn at the next look. Only the first drawing writes (the views), which
                # costs one more, read-only, drawing; later ones leave the file as it is.
                self._seen = before
                self.out.parent.mkdir(parents=True, exist_ok=True)  # the demo clears .demo/
                self.out.write_text(page, "utf-8")
            except Exception as exc:  # a busy or half-written database: try again later
                self.error = " ".join((str(exc) or type(exc).__name__).split())
                return False
            self.error = ""
            self.version += 1
            self.page = page
            return True

    def served(self) -> str:
        badge = RELOAD.format(db=html.escape(str(self.db)), version=self.version)
        note = f"<p class=note>Last redraw failed: {html.escape(self.error)}</p>" * bool(self.error)
        head, tail = [*self.page.rsplit("</html>", 1), ""][:2]
        return head + note + badge + "</html>" + tail


def serve(live: LiveReport, port: int, poll_s: float = 1.0) -> tuple[ThreadingHTTPServer, Any]:
    """Start serving ``live`` on 127.0.0.1:``port`` (0: a free one) in background threads;
    returns the server (``server.server_address[1]`` is the port) and a stop event."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html", "/build-health.html"):
                body, kind, status = live.served().encode(), "text/html; charset=utf-8", 200
            elif path == "/version":
                body, kind, status = str(live.version).encode(), "text/plain", 200
            else:
                body, kind, status = b"not found\n", "text/plain", 404
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    stop = threading.Event()

    def watch() -> None:
        # Sleeps rather than Event.wait: a condition wait with a timeout never returns under
        # libfaketime (make test-calendar), a sleep does.
        while not stop.is_set():
            time.sleep(poll_s)
            live.refresh()

    live.refresh()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=watch, daemon=True).start()
    return server, stop
