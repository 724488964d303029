"""Ingest latency and throughput on loopback.

ingest runs under functions-framework's own server in a separate process,
publishing to a file (the local publisher). A client sends signed Buildkite
bodies at a fixed rate (default 200 req/s for 10 s, from 8 threads) and
reports p50/p99 latency and achieved requests per second. Goal (issue 11):
p99 < 50 ms at 200 req/s on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
RATE = float(os.environ.get("BENCH_INGEST_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_INGEST_SECONDS", "10"))


def main(argv: list[str]) -> int:
    from cievents.webhooks.signing import sign_headers
    from tests.support.emulators import free_port, stop_process_group, wait_for_port

    port = free_port()
    out = Path(tempfile.mkdtemp()) / "published.jsonl"
    env = {
        **os.environ,
        "WEBHOOK_SECRET_BUILDKITE": "bench-secret",
        "CIEVENTS_PUBLISH_TO": f"file:{out}",
        "CIEVENTS_STORE": f"sqlite:{out.parent / 'state.db'}",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            str(ROOT / "functions/ingest/main.py"),
            "--target",
            "ingest",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, 30, server)
        template = json.loads(
            (ROOT / "tests/fixtures/own/buildkite/build.finished.failed.json").read_text()
        )
        total = int(RATE * SECONDS)
        bodies = []
        for i in range(total):
            template["build"]["number"] = i
            bodies.append(json.dumps(template).encode())
        latencies: list[float] = []
        lock = threading.Lock()
        start = time.perf_counter()
        session_local = threading.local()

        def worker(indices: range) -> None:
            session = getattr(session_local, "s", None) or requests.Session()
            session_local.s = session
            for i in indices:
                due = start + i / RATE
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = bodies[i]
                t0 = time.perf_counter()
                response = session.post(
                    f"http://127.0.0.1:{port}/buildkite",
                    data=body,
                    headers=sign_headers("buildkite", body, "bench-secret"),
                    timeout=10,
                )
                elapsed = time.perf_counter() - t0
                if response.status_code == 202:
                    with lock:
                        latencies.append(elapsed)

        threads = [threading.Thread(target=worker, args=(range(t, total, 8),)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        stop_process_group(server)
    latencies.sort()
    rows = [
        [
            f"{RATE:.0f} req/s for {SECONDS:.0f} s",
            len(latencies),
            round(len(latencies) / wall, 1),
            round(statistics.median(latencies) * 1000, 2),
            round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
            round(latencies[-1] * 1000, 2),
        ]
    ]
    print(render(["load", "accepted (202)", "achieved req/s", "p50 ms", "p99 ms", "max ms"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
