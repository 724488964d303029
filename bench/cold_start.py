"""Cold start: process spawn → first answered request, each function served as deployed.

Each function in function.yaml is started under functions-framework (HTTP
signature, as deployed behind push subscriptions; gunicorn with ``THREADS`` =
its concurrency) with the deployed environment: Firestore emulator as store,
Pub/Sub emulator for publishers, fake-gcs-server for the archive, and loopback
fakes of Slack, GitHub, Jira, Teams and Buildkite for the vendors. The clock
starts when the process is spawned and stops when the answer to the first
request arrives (the request is sent as soon as the port accepts connections):
a push of a failed Buildkite ``build.finished`` for the Pub/Sub functions (so the
function does its real work: store claim, vendor calls), a signed GitHub push for
ingest, ``GET /`` for health (which answers 503 here: its checks reach no real
vendor). The status of the first answer is printed beside each row.

The floor, in the same run, alternating with the function (floor first, then function
first, and so on): the same server
serving bench/floors/cold_floor.py, which imports the function's own SDKs (its
manifest ``extras``, and ``requests`` with a Session when the function's main.py imports
it: the HTTP client of the library's GitHub, GitLab, Bitbucket, Azure, Teams and
Buildkite clients) and builds their clients, then answers the same request.
Both are served with their bytecode: the SDKs' was compiled by pip at install, the
library's and the functions' (and the floor's) is compiled here first, checked-hash as
``make package`` ships it in each zip for the runtime's Python (this machine sets
``PYTHONDONTWRITEBYTECODE``, so without it every spawn compiled the library anew, which
no deployed instance of a package does). Goal (issue 17): ≤ 1.2 × floor + 50 ms for every function. The import-only
probe below (``PROBE``) is what tests/unit/test_cold_imports.py uses to check
that no function loads an SDK it does not use.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.summary import record
from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "9"))
# BENCH_COLD_FUNCTIONS=health,github_status: only these (to look at one row again).
ONLY = {n.strip() for n in os.environ.get("BENCH_COLD_FUNCTIONS", "").split(",") if n.strip()}
GOAL_RATIO, GOAL_EXTRA_MS = 1.2, 50.0
FN_GAP_S = 1.0

# Integration SDKs by the manifest's `extras` group name.
SDK_MODULES = {
    "slack": ["slack_sdk"],
    "jira": ["jira"],
    "bigquery": ["google.cloud.bigquery"],
    "storage": ["google.cloud.storage"],
    "firestore": ["google.cloud.firestore"],
    "pubsub": ["google.cloud.pubsub_v1"],
    "ingest": ["google.cloud.pubsub_v1"],
    "scan": ["hyperscan"],
    # In every package, loaded only when CIEVENTS_TRACING is on (no manifest entry names it):
    # with tracing off, a function that imports it fails tests/unit/test_cold_imports.py.
    "tracing": ["opentelemetry"],
}
# The HTTP client the library's vendor clients stand on (cievents.http: GitHub, GitLab,
# Bitbucket, Azure, Teams, Buildkite). It is a base dependency, so no manifest extra names
# it; a function whose main.py imports it gets it in its floor too ("http"), as a function
# written by hand would import it to reach the same vendors.
HTTP_SDK = "requests"
ALL_SDKS = sorted({m for mods in SDK_MODULES.values() for m in mods})
PROBED = [*ALL_SDKS, HTTP_SDK]

PROBE = r"""
import importlib.util, json, resource, sys, time
t0 = time.perf_counter()
import functions_framework  # noqa
t1 = time.perf_counter()
for name in json.loads(sys.argv[2]):
    __import__(name)
source = sys.argv[1]
if source:
    spec = importlib.util.spec_from_file_location("main", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["main"] = module
    spec.loader.exec_module(module)
t2 = time.perf_counter()
sdks = json.loads(sys.argv[3])
print(json.dumps({"ff_ms": (t1 - t0) * 1000, "total_ms": (t2 - t0) * 1000,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "loaded": [m for m in sdks if m in sys.modules]}))
"""


def probe(main_py: Path) -> dict[str, Any]:
    """Import ``main_py`` after functions-framework in a fresh process (no request served):
    its import time, peak RSS and which of ``ALL_SDKS`` it loaded."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(main_py), "[]", json.dumps(PROBED)],
        capture_output=True,
        text=True,
        env={**os.environ, "CIEVENTS_STORE": "memory:", "CIEVENTS_DRY_RUN": "1"},
        cwd=ROOT,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or ["failed"])[-1])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def floor_extras(spec: dict[str, object], loaded: list[str]) -> list[str]:
    """What the floor builds for a function: its manifest extras, and ``http`` when its
    main.py imports the HTTP client its vendor clients use."""
    extras = [str(e) for e in spec.get("extras") or []]  # type: ignore[attr-defined]
    return extras + (["http"] if HTTP_SDK in loaded else [])


def sdks_for(spec: dict[str, object]) -> list[str]:
    extras = spec.get("extras") or []
    modules: list[str] = []
    for extra in extras if isinstance(extras, list) else []:
        modules.extend(SDK_MODULES.get(str(extra), []))
    return sorted(set(modules))


def first_request(name: str) -> bytes:
    """The first request each function answers, as its trigger would send it."""
    from bench.serving import http_request
    from cievents.webhooks.signing import sign_headers

    if name == "health":
        return b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    if name == "ingest":
        raw = (ROOT / "tests/fixtures/vendor/github/push.json").read_bytes()
        headers = sign_headers("github", raw, "bench-secret", event="push")
        headers["X-GitHub-Delivery"] = str(uuid.uuid4())
        return http_request("/github", raw, headers)
    build = json.loads(
        (ROOT / "tests/fixtures/own/buildkite/build.finished.failed.json").read_text()
    )
    # A new build each time: a function keyed by build would answer a repeat as a duplicate,
    # without doing its work.
    build["build"]["id"] = str(uuid.uuid4())
    build["build"]["number"] = int(time.time() * 1000) % 10_000_000
    raw = json.dumps(build).encode()
    body = {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "messageId": uuid.uuid4().hex,
            "publishTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "attributes": {
                "source": "buildkite",
                "event": "build.finished",
                "delivery_id": str(uuid.uuid4()),
            },
        },
        "subscription": f"projects/cievents-bench/subscriptions/{name}",
    }
    return http_request("/", json.dumps(body).encode(), {"Content-Type": "application/json"})


def vendors(stack: ExitStack) -> dict[str, str]:
    """Loopback fakes of every vendor the functions call, and the environment naming them."""
    from tests.support.fakehttp import FakeServer, Reply
    from tests.support.fakes.jira import API_TOKEN, EMAIL, jira_server
    from tests.support.fakes.slack import TOKEN, slack_server

    slack = stack.enter_context(slack_server())
    jira = stack.enter_context(jira_server())
    other = FakeServer()

    @other.route("POST", "/gh/repos/.*/statuses/.*")
    def status(req: Any) -> Reply:
        return Reply(201, {"id": 1, "state": req.json().get("state")})

    @other.route("POST", "/teams")
    def teams(req: Any) -> Reply:
        return Reply(200, "1")

    @other.route("GET", "/bk/.*")
    def buildkite(req: Any) -> Reply:
        return Reply(200, {})

    stack.enter_context(other)
    return {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": f"{slack.url}/api/",
        "JIRA_URL": jira.url,
        "JIRA_EMAIL": EMAIL,
        "JIRA_API_TOKEN": API_TOKEN,
        "GITHUB_TOKEN": "gh-bench-token",
        "GITHUB_API_URL": f"{other.url}/gh",
        "TEAMS_WEBHOOK_URL": f"{other.url}/teams",
        "BUILDKITE_API_TOKEN": "bk-bench-token",
        "BUILDKITE_API_URL": f"{other.url}/bk",
    }


def warm_up(firestore_host: str, publisher: Any, topic: str, rounds: int = 50) -> None:
    """Serve the emulators' first requests before any function is timed: a JVM answers its
    first calls many times slower than its hundredth (class loading, JIT), which would be
    charged to whichever function happened to call it first. A deployed Firestore or
    Pub/Sub has no such first call."""
    from bench.serving import PROJECT
    from cievents.idempotency import open_store

    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore_host
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", PROJECT)
    try:
        store = open_store("firestore:")
        for n in range(rounds):
            key = f"bench:warm-up:{uuid.uuid4().hex}"
            claim = store.claim(key, 60)
            store.complete(key, claim.token, "acted")
            state = store.get_state(key)
            store.set_state(key, {"n": n}, expected_version=state.version)
            publisher.publish(publisher.topic_path(PROJECT, topic), b"{}").result(timeout=60)
    finally:
        if saved is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = saved


def compile_sources() -> None:
    """Checked-hash bytecode of the library, the functions and the floor, beside their
    sources (git ignores ``__pycache__``), as the package ships it."""
    import compileall
    import py_compile

    for folder in ("shared/cievents", "functions", "bench/floors"):
        compileall.compile_dir(
            str(ROOT / folder),
            quiet=2,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )


def spawn_to_answer(name: str, env: dict[str, str], source: str | None) -> tuple[float, int]:
    from bench.serving import spawn, wait_answer
    from tests.support.emulators import free_port, stop_process_group

    port = free_port()
    request = first_request(name)
    started = time.monotonic()
    proc = spawn(name, port, env, source=source)
    try:
        answered, status = wait_answer(port, request, proc)
    finally:
        stop_process_group(proc)
    return (answered - started) * 1000, status


def main(argv: list[str]) -> int:
    import google.cloud.pubsub_v1 as pubsub_v1

    from bench.serving import PROJECT, manifest
    from tests.support.emulators import firestore_emulator, gcs_emulator, pubsub_emulator

    functions = manifest()["functions"]
    compile_sources()
    rows = []
    ratios: dict[str, tuple[float, bool]] = {}
    with ExitStack() as stack:
        pubsub = stack.enter_context(pubsub_emulator())
        firestore = stack.enter_context(firestore_emulator())
        gcs = stack.enter_context(gcs_emulator())
        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host
        publisher = pubsub_v1.PublisherClient()
        for topic in manifest()["topics"]:
            publisher.create_topic(request={"name": publisher.topic_path(PROJECT, topic)})
        import google.cloud.storage as storage
        from google.auth.credentials import AnonymousCredentials

        storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": f"http://{gcs.host}"},
        ).create_bucket("cievents-bench-archive")
        warm_up(firestore.host, publisher, manifest()["topics"][0])
        state = tempfile.mkdtemp(prefix="bench-cold-")
        env = {
            **vendors(stack),
            "PUBSUB_EMULATOR_HOST": pubsub.host,
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "STORAGE_EMULATOR_HOST": f"http://{gcs.host}",
            "CIEVENTS_STORE": "firestore:",
            "WEBHOOK_SECRET_GITHUB": "bench-secret",
            "ARCHIVE_BUCKET": "cievents-bench-archive",
            "METRICS_BACKEND": "duckdb",
            "DUCKDB_PATH": f"{state}/metrics.duckdb",
            "CIEVENTS_OUTBOX": f"{state}/outbox",
        }
        for name, spec in functions.items():
            if not (ROOT / str(spec["source"]) / "main.py").exists() or (ONLY and name not in ONLY):
                continue
            main_py = ROOT / str(spec["source"]) / "main.py"
            try:
                loaded = list(probe(main_py)["loaded"])
            except RuntimeError as exc:
                rows.append([name, "-", "-", "-", "-", "-", "-", str(exc)])
                continue
            extras = ",".join(floor_extras(spec, loaded))
            fn_ms: list[float] = []
            floor_ms: list[float] = []
            answers: set[int] = set()
            error = ""
            last_fn = 0.0

            def function_spawn(name: str = name) -> tuple[float, int]:
                # A function's first request writes to a rate-limited vendor (Slack's 1
                # post/s per channel, GitHub's 80 writes/min, shared by every instance
                # through the store): the next spawn starts FN_GAP_S after the last one
                # answered, so it never waits for a slot its predecessor booked.
                nonlocal last_fn
                time.sleep(max(0.0, last_fn + FN_GAP_S - time.monotonic()))
                try:
                    return spawn_to_answer(name, env, None)
                finally:
                    last_fn = time.monotonic()

            for run in range(RUNS):
                try:
                    # The pair's order flips every run, so neither side always follows the
                    # other (and inherits what it left: page cache, emulator state).
                    if run % 2:
                        fn, status = function_spawn()
                    floor, _status = spawn_to_answer(
                        name,
                        {**env, "FLOOR_EXTRAS": extras},
                        str(ROOT / "bench/floors/cold_floor.py"),
                    )
                    if not run % 2:
                        fn, status = function_spawn()
                except (RuntimeError, TimeoutError) as exc:
                    error = str(exc)
                    break
                floor_ms.append(floor)
                fn_ms.append(fn)
                answers.add(status)
            if error:
                rows.append([name, "-", "-", "-", "-", "-", "-", error])
                continue
            fn, floor = statistics.median(fn_ms), statistics.median(floor_ms)
            # Judged pair by pair: each function spawn beside the floor spawn just before
            # it, so a slow stretch of this shared machine (floors here range ±30% within
            # a minute) weighs on both sides of a comparison, not on one series' median.
            ratio = statistics.median(f / b for f, b in zip(fn_ms, floor_ms, strict=True))
            over = statistics.median(
                f - (GOAL_RATIO * b + GOAL_EXTRA_MS) for f, b in zip(fn_ms, floor_ms, strict=True)
            )
            ratios[name] = (ratio, over <= 0)
            rows.append(
                [
                    name,
                    round(fn, 1),
                    round(floor, 1),
                    f"{ratio:.2f}×",
                    f"{over:+.0f}",
                    "yes" if over <= 0 else "NO",
                    ", ".join(str(a) for a in sorted(answers)),
                    extras or "none",
                ]
            )
    print(
        f"spawn → first answered request, median of {RUNS} fresh processes each "
        "(function and floor alternate; the ratio and the goal are judged on each function "
        "spawn against the floor spawn beside it)\n"
    )
    print(
        render(
            [
                "function",
                "spawn → answer ms",
                "floor ms (ff + own SDKs + clients)",
                "× floor (median of pairs)",
                f"ms past {GOAL_RATIO}× floor + {GOAL_EXTRA_MS:.0f} ms (median of pairs)",
                "within",
                "first answer",
                "extras",
            ],
            rows,
        )
    )
    worst = sorted(ratios.items(), key=lambda item: -item[1][0])[:3]
    record(
        "cold start, process spawn → first answered request (served as deployed, real "
        "emulators), worst functions",
        ", ".join(f"{name} {ratio:.2f}×" for name, (ratio, _) in worst),
        "functions-framework + that function's SDKs imported and their clients built",
        f"≤ {GOAL_RATIO}× + {GOAL_EXTRA_MS:.0f} ms for every function",
        bool(ratios) and all(within for _, within in ratios.values()),
    )
    print("\nImport only (fresh process, `import functions_framework` then main.py):\n")
    print(import_table(functions))
    return 0


def import_table(functions: dict[str, Any]) -> str:
    rows: list[list[object]] = []
    for name, spec in functions.items():
        main_py = ROOT / str(spec["source"]) / "main.py"
        if not main_py.exists():
            continue
        try:
            found = probe(main_py)
        except RuntimeError as exc:
            rows.append([name, "-", "-", str(exc)])
            continue
        unused = sorted(set(found["loaded"]) - set(sdks_for(spec)) - {HTTP_SDK})
        rows.append(
            [
                name,
                round(float(found["total_ms"]), 1),
                round(float(found["rss_mb"]), 1),
                ", ".join(unused) or "none",
            ]
        )
    return render(["function", "import ms", "peak RSS MB", "unused SDKs loaded"], rows)


if __name__ == "__main__":
    raise SystemExit(main([]))
