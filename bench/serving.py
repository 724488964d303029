"""Serving functions for the benchmarks as function.yaml deploys them.

A function runs under functions-framework's own server (gunicorn, one worker,
``THREADS`` = the manifest's ``concurrency``) in its own process group, with
the manifest's environment plus the benchmark's (emulator hosts, fakes'
URLs, secrets), and is stopped by its process id.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "cievents-bench"

__all__ = [
    "PROJECT",
    "ROOT",
    "http_request",
    "manifest",
    "serve",
    "spawn",
    "wait_answer",
]


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "function.yaml").read_text())
    return loaded


def _deployed_env(name: str) -> dict[str, str]:
    """The environment function.yaml deploys ``name`` with, filled as a deploy fills it
    (``cievents.deploy.manifest``: ``Manifest.resolve``, then ``Function.environment_with``,
    built-ins included), in project ``PROJECT``, region ``local``.

    A setting whose variable has no default (a deploy must give it) is left out: the
    benchmark or test passes its own value, as a deploy would. Tracing is off (the
    ``tracing`` variable): there is no Cloud Trace to export to here.
    """
    from cievents.deploy.manifest import load, references

    deployed = load(ROOT / "function.yaml")
    function = deployed.function(name)
    unset = set(deployed.missing({}))
    variables = deployed.resolve({**dict.fromkeys(unset, ""), "tracing": "off"}, PROJECT, "local")
    env = function.environment_with(variables)
    for key, raw in function.environment.items():
        if references(raw) & unset:
            del env[key]
    env["THREADS"] = str(function.concurrency)
    env["K_SERVICE"] = name
    return env


def spawn(
    name: str,
    port: int,
    env: Mapping[str, str],
    source: str | None = None,
    target: str | None = None,
    log_path: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``name`` (or a floor ``source``) under functions-framework on ``port``."""
    spec = manifest()["functions"][name]
    full = {**os.environ, **_deployed_env(name), **env}
    out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            source or str(ROOT / spec["source"] / "main.py"),
            "--target",
            target or spec["entry_point"],
            "--signature-type",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=full,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_answer(
    port: int,
    request: bytes,
    proc: subprocess.Popen[bytes],
    timeout_s: float = 120.0,
) -> tuple[float, int]:
    """Send ``request`` (a whole HTTP/1.1 request) as soon as the port accepts it.

    Returns (monotonic time the answer's status line arrived, status). Connection
    attempts are 2 ms apart, so the figure is within a few ms of the first moment
    the server could answer.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
                sock.sendall(request)
                data = b""
                while b"\r\n" not in data:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    time.sleep(0.002)
                    continue
                answered = time.monotonic()
                return answered, int(data.split(b" ", 2)[1])
        except (ConnectionRefusedError, ConnectionResetError):
            time.sleep(0.002)
    raise TimeoutError(f"no answer on {port} within {timeout_s} s")


def http_request(path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body


@contextmanager
def serve(
    name: str,
    env: Mapping[str, str],
    source: str | None = None,
    target: str | None = None,
) -> Iterator[int]:
    """``name`` served on a free port until the block ends; yields the port."""
    from tests.support.emulators import free_port, stop_process_group, wait_for_port

    port = free_port()
    proc = spawn(name, port, env, source, target)
    try:
        wait_for_port(port, 120, proc)
        yield port
    finally:
        stop_process_group(proc)
