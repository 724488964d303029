"""The demo's message router, and the built-in bus for machines without the emulator.

* ``POST /publish/<topic>`` (the built-in bus): ``{"data": base64, "attributes": {...}}``
  is fanned out to every subscription of the topic whose filter matches.
* ``POST /push/<function>/<n>`` (from the Pub/Sub emulator's push subscriptions):
  the filter is applied here, since the emulator ignores it, and the push
  is forwarded to the function.

Either way the function receives a raw Pub/Sub push body, as a direct push
subscription sends it in the cloud. A 5xx answer is retried with exponential
backoff, up to ``max_attempts``; then the message is recorded as a dead
letter. ``redeliver`` > 1 pushes every message that many times, to show that
at-least-once delivery gives one effect.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import tenacity

from cievents import clock
from cievents.demo.manifest import LocalFunction


class Router:
    def __init__(
        self,
        functions: list[LocalFunction],
        ports: Mapping[str, int],
        dead_letters: Path,
        *,
        redeliver: int = 1,
        max_attempts: int = 5,
        base_delay_s: float = 0.2,
    ) -> None:
        self.functions = {f.name: f for f in functions if not f.http}
        self.ports = dict(ports)
        self.dead_letters = dead_letters
        self.redeliver = max(1, redeliver)
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        # One worker per function: each subscription is delivered in publish order, so the
        # demo is deterministic (order-sensitive rules such as "changed" see builds in order).
        self.pools = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"push-{name}")
            for name in self.functions
        }
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.last_activity = time.monotonic()
        self.delivered: dict[str, int] = {}
        self.dead: dict[str, int] = {}
        self.filtered: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None
        self.session = requests.Session()

    # -- fan-out -------------------------------------------------------------------
    def publish(self, topic: str, data_b64: str, attributes: Mapping[str, str]) -> str:
        message_id = f"local-{next(self._ids)}"
        message = {
            "data": data_b64,
            "attributes": dict(attributes),
            "messageId": message_id,
            "publishTime": clock.now_iso(),
        }
        for function in self.functions.values():
            for index, subscription in enumerate(function.subscriptions):
                if subscription.topic == topic:
                    self._submit(function.name, index, message)
        return message_id

    def _submit(self, name: str, index: int, message: Mapping[str, Any]) -> None:
        """Deliver through subscription ``index`` of function ``name``, if its filter matches."""
        subscriptions = self.functions[name].subscriptions
        attributes = message.get("attributes") or {}
        if index >= len(subscriptions) or not subscriptions[index].matches(attributes):
            with self._lock:
                self.filtered[name] = self.filtered.get(name, 0) + 1
            return
        for _ in range(self.redeliver):
            with self._lock:
                self.in_flight += 1
                self.last_activity = time.monotonic()
            self.pools[name].submit(self._deliver, name, message)

    def _deliver(self, name: str, message: Mapping[str, Any]) -> None:
        # A redelivery carries the same message id, as Pub/Sub's does.
        body: dict[str, Any] = {
            "message": dict(message),
            "subscription": f"projects/cievents-local/subscriptions/{name}",
        }
        attempts = itertools.count(1)

        def push() -> int:
            body["deliveryAttempt"] = next(attempts)
            try:
                return self.session.post(
                    f"http://127.0.0.1:{self.ports[name]}/", json=body, timeout=60
                ).status_code
            except requests.RequestException:
                return 599

        # Pub/Sub's push retry: a 5xx (or no answer) is a nack, redelivered with
        # exponential backoff, up to max_attempts; then the message is dead.
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            retry=tenacity.retry_if_result(lambda status: status >= 500),
            wait=tenacity.wait_exponential(multiplier=self.base_delay_s, max=5.0),
            retry_error_callback=lambda state: 599,
        )
        try:
            if retrying(push) < 500:
                with self._lock:
                    self.delivered[name] = self.delivered.get(name, 0) + 1
                return
            with self._lock:
                self.dead[name] = self.dead.get(name, 0) + 1
                with open(self.dead_letters, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"function": name, **body}) + "\n")
        finally:
            with self._lock:
                self.in_flight -= 1
                self.last_activity = time.monotonic()

    def quiet_for(self) -> float:
        with self._lock:
            return 0.0 if self.in_flight else time.monotonic() - self.last_activity

    # -- HTTP ------------------------------------------------------------------------
    def serve(self, port: int) -> None:
        router = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                kind, _, rest = self.path.strip("/").partition("/")
                name, _, index = rest.partition("/")
                if kind == "publish":
                    message_id = router.publish(
                        name, payload.get("data", ""), payload.get("attributes") or {}
                    )
                    self._answer(200, {"messageId": message_id})
                elif kind == "push" and name in router.functions and index.isdigit():
                    router._submit(name, int(index), payload.get("message") or {})
                    self._answer(200, {})
                else:
                    self._answer(404, {"error": f"no route {self.path}"})

            def _answer(self, status: int, body: Mapping[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for pool in self.pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
