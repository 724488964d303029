"""Headless Chromium for page tests, driven over the DevTools protocol.

The browser is Debian's ``chromium`` package (``make test-tools`` installs it; a missing one
skips locally and fails with ``CI=true``, like every tool). No browser is downloaded: the
harness starts the system binary in its own process group with a throw-away profile, reads
the DevTools port from the profile's ``DevToolsActivePort`` file, and speaks the protocol
over one WebSocket (``websocket-client``), one page session at a time.

What a test gets from ``Browser.open(url, scheme=...)`` is a ``Page``: every console error,
uncaught exception and browser log error seen while it loaded, every request the page made,
``evaluate(js)`` for what is on screen, ``screenshot(name)`` (full page, PNG, kept under
``.artifacts/screenshots/``) and ``pdf()`` (the print layout).

    with Browser() as browser:
        page = browser.open(path.as_uri(), scheme="dark")
        assert page.errors == []
        page.screenshot("report-dark")
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.tools import ROOT, missing

__all__ = ["SCREENSHOTS", "Browser", "Page", "chromium_binary", "written"]

SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
_written: list[Path] = []  # this session's screenshots (tests/conftest.py prints them)


def written() -> list[Path]:
    return list(_written)


def chromium_binary() -> str:
    """The system Chromium, or skip/fail (``make test-tools`` installs Debian's package)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    missing("chromium is not installed (run `make test-tools`: apt-get install chromium)")


class DevToolsError(RuntimeError):
    pass


@dataclass
class Page:
    browser: Browser
    session: str
    target: str
    url: str
    scheme: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serializable)."""
        answer = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        self.browser._collect(self)
        if "exceptionDetails" in answer:
            raise DevToolsError(f"{expression!r} threw: {_exception_text(answer)}")
        return answer["result"].get("value")

    def screenshot(self, name: str, top: float = 0, height: float | None = None) -> Path:
        """The whole page (or ``height`` CSS pixels of it from ``top``), not just the
        viewport, as ``.artifacts/screenshots/NAME.png``."""
        metrics = self.browser.call("Page.getLayoutMetrics", {}, self.session)
        size = dict(metrics.get("cssContentSize") or metrics["contentSize"])
        size["height"] = min(size["height"] - top, height or size["height"])
        shot = self.browser.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": top,
                    "width": size["width"],
                    "height": min(size["height"], 16000),
                    "scale": 1,
                },
            },
            self.session,
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        _written.append(path)
        return path

    def pdf(self) -> bytes:
        """The page as printed (``@media print``), A4."""
        answer = self.browser.call(
            "Page.printToPDF",
            {"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": False},
            self.session,
        )
        return base64.b64decode(answer["data"])

    def close(self) -> None:
        self.browser.close_page(self)


def _exception_text(answer: dict[str, Any]) -> str:
    details = answer.get("exceptionDetails") or {}
    exception = details.get("exception") or {}
    return str(exception.get("description") or details.get("text") or details)


class Browser:
    """One headless Chromium process; ``open`` a page per color scheme or URL."""

    def __init__(self, width: int = 1280, height: int = 900, timeout_s: float = 90.0) -> None:
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._ws: Any = None
        self._profile = ""

    def __enter__(self) -> Browser:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        import websocket

        binary = chromium_binary()
        self._profile = tempfile.mkdtemp(prefix="cievents-chromium-")
        log = Path(self._profile) / "chromium.log"
        argv = [
            binary,
            "--headless=new",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={self._profile}",
            f"--window-size={self.width},{self.height}",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "--hide-scrollbars",  # screenshots as wide as the layout
            "about:blank",
        ]
        # The browser keeps the real clock: under ``make test-calendar`` libfaketime is
        # preloaded into every child, and Chromium's crash handler cannot start with it
        # (the pages under test take no time from the browser).
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "LD_PRELOAD" and not k.startswith("FAKETIME")
        }
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                self.stop()
                raise DevToolsError(f"chromium did not start its DevTools server:\n{tail}")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self._ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}{path}", timeout=self.timeout_s, suppress_origin=True
        )

    def stop(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(OSError):
                self._ws.close()
            self._ws = None
        if self._process is not None:
            if self._process.poll() is None:
                try:
                    os.killpg(self._process.pid, signal.SIGTERM)
                    self._process.wait(10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self._process.pid, signal.SIGKILL)
                    self._process.wait(10)
            self._process = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = ""

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and wait for its answer; events seen meanwhile are kept."""
        if self._ws is None:
            raise DevToolsError("the browser is not started")
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            received = json.loads(self._ws.recv())
            if received.get("id") == ident:
                if "error" in received:
                    raise DevToolsError(f"{method}: {received['error']}")
                result: dict[str, Any] = received.get("result", {})
                return result
            self._events.append(received)
        raise DevToolsError(f"{method}: no answer in {self.timeout_s:.0f} s")

    def _wait_event(self, session: str, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for event in self._events:
                if event.get("sessionId") == session and event.get("method") == method:
                    self._events.remove(event)
                    return event
            self._events.append(json.loads(self._ws.recv()))
        raise DevToolsError(f"no {method} in {self.timeout_s:.0f} s")

    def open(
        self, url: str, scheme: str = "light", media: str = "screen", width: int | None = None
    ) -> Page:
        """Load ``url`` in a fresh tab with ``prefers-color-scheme: scheme`` (and ``width``
        CSS pixels wide, default the browser's); returns when the load event fired and every
        script had its turn (two animation frames)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session, target, url, scheme)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", {}, session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width or self.width,
                "height": self.height,
                "deviceScaleFactor": 1,
                "mobile": False,
            },
            session,
        )
        self.call(
            "Emulation.setEmulatedMedia",
            {"media": media, "features": [{"name": "prefers-color-scheme", "value": scheme}]},
            session,
        )
        answer = self.call("Page.navigate", {"url": url}, session)
        if answer.get("errorText"):
            raise DevToolsError(f"{url}: {answer['errorText']}")
        self._wait_event(session, "Page.loadEventFired")
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        self._collect(page)
        return page

    def _collect(self, page: Page) -> None:
        """Move this page's console errors, exceptions and requests from the event queue."""
        kept = []
        for event in self._events:
            if event.get("sessionId") != page.session:
                kept.append(event)
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args", [])
                page.errors.append(
                    "console: "
                    + " ".join(str(a.get("value", a.get("description", ""))) for a in args)
                )
            elif method == "Runtime.exceptionThrown":
                page.errors.append("exception: " + _exception_text(params))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                page.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
            elif method == "Network.requestWillBeSent":
                page.requests.append(params.get("request", {}).get("url", ""))
        self._events = kept

    def close_page(self, page: Page) -> None:
        self._collect(page)
        self.call("Target.closeTarget", {"targetId": page.target})
