"""A base for fakes that speak a vendor's HTTP API on loopback.

Tests point the *real* client (slack_sdk, jira, requests, google-cloud-*) at
``server.url`` and assert on ``server.requests``, the bodies actually sent.

    server = FakeServer()
    @server.route("POST", "/api/chat.postMessage")
    def post(req: Request) -> Reply:
        return Reply(200, {"ok": True, "ts": "1.0"})
    with server:
        ...

Routes match the method and a regex on the path (query string excluded);
``server.queue(...)`` makes the next matching call answer a scripted reply
(429, 500, a timeout) before falling back to the handler.

Faults (``server.fault(method, pattern, FAULTS["commit_then_drop"])``) model
what a real network does to a write, for the next matching call:

* ``commit_then_drop``: the handler runs (the write is committed), then the
  connection is reset (RST) before any answer: the client saw nothing;
* ``timeout_after_commit``: committed, then no answer until the client's read
  timeout has passed (``delay_s``), then the connection is closed;
* ``reset``: the connection is reset on arrival; nothing is committed;
* ``unreadable_200``: committed, answered 200 with a body no client can parse;
* ``500``: committed, then answered 500 (a server that failed after writing);
* ``429`` (with ``Retry-After``), ``503``, ``401``, ``403``, ``404``: refused,
  nothing committed.

Vendor fakes (``tests/support/fakes/<vendor>.py``) append every committed
create to ``server.effects``, so a test counts what the vendor really holds.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}

    def data(self) -> dict[str, Any]:
        """JSON or form body, whichever the client sent."""
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            loaded = self.json()
            return loaded if isinstance(loaded, dict) else {"_": loaded}
        return self.form() if self.body else {}


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw: bytes | None = None


Handler = Callable[[Request], Reply]

FaultKind = Literal["commit_then_drop", "timeout_after_commit", "reset", "unreadable", "status"]


@dataclass(frozen=True)
class Fault:
    """What the network does to one call. ``commits``: whether the handler runs."""

    kind: FaultKind
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_s: float = 0.0
    commits: bool = True


# Timeouts used with these faults: tests set the clients' read timeout below this.
FAULT_TIMEOUT_S = 2.5
FAULTS: dict[str, Fault] = {
    "commit_then_drop": Fault("commit_then_drop"),
    "timeout_after_commit": Fault("timeout_after_commit", delay_s=FAULT_TIMEOUT_S),
    "reset": Fault("reset", commits=False),
    "unreadable_200": Fault("unreadable", 200, {"Content-Type": "text/html"}, "<html>proxy"),
    "500": Fault("status", 500, {}, {"message": "internal error after write"}),
    "429": Fault("status", 429, {"Retry-After": "1"}, {"message": "slow down"}, commits=False),
    "503": Fault("status", 503, {}, {"message": "unavailable"}, commits=False),
    "401": Fault("status", 401, {}, {"message": "Bad credentials"}, commits=False),
    "403": Fault("status", 403, {}, {"message": "Forbidden: missing scope"}, commits=False),
    "404": Fault("status", 404, {}, {"message": "Not Found"}, commits=False),
}
TRANSIENT_FAULTS = (
    "commit_then_drop",
    "timeout_after_commit",
    "reset",
    "unreadable_200",
    "500",
    "429",
    "503",
)
PERMANENT_FAULTS = ("401", "403", "404")


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._queued: list[tuple[str, re.Pattern[str], Reply]] = []
        self._faults: list[tuple[str, re.Pattern[str], Fault]] = []
        self.effects: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))
            return handler

        return register

    def queue(self, method: str, pattern: str, reply: Reply) -> None:
        with self._lock:
            self._queued.append((method.upper(), re.compile(pattern + r"\Z"), reply))

    def fault(self, method: str, pattern: str, fault: Fault, times: int = 1) -> None:
        """The next ``times`` matching calls suffer ``fault``."""
        with self._lock:
            for _ in range(times):
                self._faults.append((method.upper(), re.compile(pattern + r"\Z"), fault))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def commit(self, kind: str, **fields: Any) -> None:
        """Record a committed create (vendor fakes call this from their handlers)."""
        with self._lock:
            self.effects.append({"kind": kind, **fields})

    def committed(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.effects if kind is None or e["kind"] == kind]

    def calls(self, method: str | None = None, pattern: str | None = None) -> list[Request]:
        regex = re.compile(pattern + r"\Z") if pattern else None
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (regex is None or regex.match(r.path))
            ]

    # -- lifecycle ---------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body are two writes: without TCP_NODELAY the body waits
            # for the client's delayed ACK of the headers (about 40 ms on Linux) on every
            # request after a kept-alive connection's first, a delay no vendor adds and
            # which the benchmarks would charge to the function.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                fault = fake._take_fault(request)
                if fault is not None and not fault.commits:
                    fake._record(request)
                    if fault.kind == "reset":
                        self._reset()
                        return
                    reply = Reply(fault.status, fault.body, dict(fault.headers))
                else:
                    reply = fake._dispatch(request)
                if fault is not None and fault.commits:
                    if fault.kind == "commit_then_drop":
                        self._reset()
                        return
                    if fault.kind == "timeout_after_commit":
                        time.sleep(fault.delay_s)
                        self._reset()
                        return
                    reply = Reply(fault.status, fault.body, dict(fault.headers))
                    if fault.kind == "unreadable":
                        reply = Reply(200, raw=str(fault.body).encode(), headers=fault.headers)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw is not None:
                    payload = reply.raw
                    ctype = reply.headers.get("Content-Type", "text/plain")
                elif reply.body is None:
                    payload = b""
                    ctype = "application/json"
                elif isinstance(reply.body, (bytes, str)):
                    payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                    ctype = reply.headers.get("Content-Type", "text/plain; charset=utf-8")
                else:
                    payload = json.dumps(reply.body).encode()
                    ctype = "application/json; charset=utf-8"
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": ctype, **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _reset(self) -> None:
                """Drop the connection with a TCP reset: no answer at all."""
                self.close_connection = True
                try:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ----------------------------------------------------------------
    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for index, (method, pattern, fault) in enumerate(self._faults):
                if method == request.method and pattern.match(request.path):
                    del self._faults[index]
                    return fault
        return None

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _dispatch(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            for index, (method, pattern, reply) in enumerate(self._queued):
                if method == request.method and pattern.match(request.path):
                    del self._queued[index]
                    return reply
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                request.match = match
                return handler(request)
        return Reply(404, {"message": f"fake: no route for {request.method} {request.path}"})
