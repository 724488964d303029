"""Run the whole bundle locally: emulator or bus, every function, the example events.

Steps: start the Pub/Sub emulator when the Google Cloud CLI is there (else
the built-in bus), the message router, and every function under
functions-framework as a real HTTP server; create the manifest's topics and
one push subscription per function; sign and post each example webhook to
ingest; wait until every push has been answered; summarise the outcome lines
each function logged; stop everything that was started, by process id.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cievents.demo import preview, processes, traces
from cievents.demo.bus import Router
from cievents.demo.manifest import LocalFunction, load
from cievents.demo.scm import GitHubStandIn, PullRequestStandIn
from cievents.sources import detect_source, lower_headers
from cievents.webhooks.signing import sign_headers

PROJECT = "cievents-local"
# Signs the bundled events for the local ingest; never a real credential.
LOCAL_SECRET = "local-demo-secret"  # noqa: S105
SCM_READER = "pr_compliance"  # the function that reads pull requests from the GitHub stand-in
OUTCOMES = ("acted", "skipped", "duplicate", "stale", "retried", "failed", "dead_lettered")


@dataclass
class Options:
    root: Path
    events: Path
    out: Path
    times: int = 1
    shuffle: bool = False
    seed: int | None = None
    use_emulator: bool | None = None  # None: when gcloud is installed
    quiet_s: float = 2.0
    timeout_s: float = 100.0
    history: bool = True  # load 60 days of build history first (cievents.metrics.history)


@dataclass
class Delivery:
    name: str
    source: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Report:
    bus: str
    functions: dict[str, dict[str, int]] = field(default_factory=dict)
    ingest: dict[str, int] = field(default_factory=dict)
    skipped_functions: list[str] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    events: int = 0
    deliveries: int = 0
    seconds: float = 0.0
    trace: str = ""
    inventory: dict[str, int] = field(default_factory=dict)  # assets by status

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_events(directory: Path) -> list[Delivery]:
    deliveries = []
    for path in sorted(directory.glob("*.json")):
        if path.name.endswith((".headers.json", ".api.json", ".pr.json")):
            continue
        body = path.read_bytes()
        headers_path = path.with_name(path.name.removesuffix(".json") + ".headers.json")
        headers = json.loads(headers_path.read_text("utf-8")) if headers_path.exists() else {}
        source = detect_source(json.loads(body), lower_headers(headers))
        deliveries.append(
            Delivery(path.stem, source, body, {str(k): str(v) for k, v in headers.items()})
        )
    return deliveries


def serve_job_logs(deliveries: list[Delivery], events_dir: Path) -> tuple[Any, int]:
    """A stand-in for the CI APIs secret_scan reads job logs from: each Buildkite job's
    NAME.log at its ``raw_log_url``, and for the other CIs the paths NAME.api.json lists
    (a JSON body, or ``"log"`` for NAME.log)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import unquote, urlsplit

    routes: dict[str, tuple[bytes, str]] = {}
    for delivery in deliveries:
        log_file = events_dir / f"{delivery.name}.log"
        log = log_file.read_bytes() if log_file.exists() else b"(no output)\n"
        body = json.loads(delivery.body)
        url = (body.get("job") or {}).get("raw_log_url") if isinstance(body, dict) else None
        if url:
            routes[urlsplit(url).path] = (log, "text/plain")
        api_file = events_dir / f"{delivery.name}.api.json"
        for path, answer in (json.loads(api_file.read_text()) if api_file.exists() else {}).items():
            if answer == "log":
                routes[path] = (log, "text/plain")
            elif isinstance(answer, str):
                routes[path] = (answer.encode(), "text/plain")
            else:
                routes[path] = (json.dumps(answer).encode(), "application/json")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = unquote(urlsplit(self.path).path)
            data, ctype = routes.get(path) or routes.get("/v2" + path) or (b"", "text/plain")
            self.send_response(200 if path in routes or "/v2" + path in routes else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


def demo_github_app() -> dict[str, str]:
    """A GitHub App for the demo: a key made now (never a real credential), installation 1;
    the PR stand-in hands out its installation token."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {"GITHUB_APP_ID": "1", "GITHUB_APP_INSTALLATION_ID": "1", "GITHUB_APP_PRIVATE_KEY": pem}


def child_env(opts: Options, router_port: int, emulator_host: str | None) -> dict[str, str]:
    out = opts.out.resolve()
    env = {
        "CIEVENTS_STORE": f"sqlite:{out / 'state.sqlite3'}",
        "CIEVENTS_OUTBOX": str(out / "outbox"),
        "CIEVENTS_DRY_RUN": "1",
        "CIEVENTS_DEAD_LETTER": f"file:{out / 'dead-letters.jsonl'}",
        "ARCHIVE_DIR": str(out / "archive"),
        "METRICS_BACKEND": "duckdb",
        "METRICS_DUCKDB_PATH": str(out / "metrics.duckdb"),
        "SLACK_MIN_POST_INTERVAL_S": "0",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "CIEVENTS_TOPIC": "ci-events",
        "CIEVENTS_FINDINGS_TOPIC": "security-findings",
        "SECURITY_SLACK_CHANNEL": "#security",
        "BUILDKITE_API_TOKEN": "local-demo",
        "PYTHONUNBUFFERED": "1",
        # Every function's spans, one JSON line each: one build's trace is drawn in the summary.
        "CIEVENTS_TRACING": f"file:{out / 'traces.jsonl'}",
    }
    for source in ("buildkite", "github", "gitlab", "bitbucket", "azure-devops", "jira"):
        env["WEBHOOK_SECRET_" + source.upper().replace("-", "_")] = LOCAL_SECRET
    if emulator_host:
        env["PUBSUB_EMULATOR_HOST"] = emulator_host
    else:
        env["CIEVENTS_PUBLISH_TO"] = f"http://127.0.0.1:{router_port}/publish/ci-events"
        env["CIEVENTS_FINDINGS_PUBLISH_TO"] = (
            f"http://127.0.0.1:{router_port}/publish/security-findings"
        )
    return env


def start_emulator(opts: Options) -> processes.Child | None:
    gcloud = shutil.which("gcloud")
    if opts.use_emulator is False or gcloud is None:
        return None
    port = processes.free_port()
    child = processes.start(
        "pubsub-emulator",
        [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port=127.0.0.1:{port}",
            "--quiet",
        ],
        port,
        opts.out / "logs" / "pubsub-emulator.log",
    )
    try:
        child.wait_ready(90)
    except (RuntimeError, TimeoutError):
        child.stop()
        if opts.use_emulator:
            raise
        return None
    return child


def wire_emulator(
    host: str, functions: list[LocalFunction], topics: list[str], router_port: int
) -> None:
    """Topics, and a push subscription per function pointing at the router."""
    import os

    os.environ["PUBSUB_EMULATOR_HOST"] = host
    import google.cloud.pubsub_v1 as pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in topics:
        publisher.create_topic(name=publisher.topic_path(PROJECT, topic))
    for function in functions:
        for index, sub in enumerate(function.subscriptions):
            request: dict[str, Any] = {
                "name": subscriber.subscription_path(PROJECT, f"{function.name}-{index}"),
                "topic": publisher.topic_path(PROJECT, sub.topic),
                "push_config": {
                    "push_endpoint": f"http://127.0.0.1:{router_port}/push/{function.name}/{index}"
                },
            }
            if sub.filter_text:
                request["filter"] = sub.filter_text
            subscriber.create_subscription(request=request)


def start_functions(
    opts: Options,
    functions: list[LocalFunction],
    env: Mapping[str, str],
    extra: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, processes.Child]:
    """Every function as a real HTTP server; ``extra`` adds settings for one function only."""
    children = {}
    for function in functions:
        port = processes.free_port()
        argv = [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            str(function.source),
            "--target",
            function.entry_point,
            "--signature-type",
            function.signature_type,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        children[function.name] = processes.start(
            function.name,
            argv,
            port,
            opts.out / "logs" / f"{function.name}.log",
            {**env, "OTEL_SERVICE_NAME": function.name, **(extra or {}).get(function.name, {})},
            cwd=opts.root,
        )
    for child in children.values():
        child.wait_ready(60)
    return children


def deliver_all(
    deliveries: list[Delivery],
    ingest_port: int,
    opts: Options,
    router: Router | None = None,
    scm: GitHubStandIn | None = None,
    prs: PullRequestStandIn | None = None,
) -> int:
    """Post every delivery to ingest. Between deliveries the pipeline settles (a real day's
    events are minutes apart), so effects that chain through topics keep their order."""
    plan = [d for d in deliveries for _ in range(opts.times)]
    if opts.shuffle:
        random.Random(opts.seed).shuffle(plan)  # noqa: S311 - ordering, not secrecy
    session = requests.Session()
    first_posts: set[str] = set()
    for delivery in plan:
        watched = None
        if prs is not None:
            prs.delivered(delivery.name)  # the PR moves on before its webhook arrives
        if scm is not None:
            scm.delivered(delivery.name)  # the SCM's state moves on before its webhook arrives
            if (
                router is not None
                and scm.concerns(delivery.name)
                and delivery.name not in first_posts
            ):
                # A reviewer acts after reading the verdict: let pr_compliance see this change
                # before the next one happens (the first post only: ingest drops repeats).
                watched = router.delivered.get(SCM_READER, 0)
            first_posts.add(delivery.name)
        event = delivery.headers.get("X-Buildkite-Event")
        headers = {
            **delivery.headers,
            **sign_headers(delivery.source, delivery.body, LOCAL_SECRET, event=event),
        }
        response = session.post(
            f"http://127.0.0.1:{ingest_port}/{delivery.source}",
            data=delivery.body,
            headers=headers,
            timeout=30,
        )
        if response.status_code >= 500:
            raise RuntimeError(f"ingest answered {response.status_code} for {delivery.name}")
        if watched is not None and router is not None:
            until = time.monotonic() + 15
            while router.delivered.get(SCM_READER, 0) <= watched and time.monotonic() < until:
                time.sleep(0.05)
        if router is not None:
            settle = time.monotonic() + 10
            while router.quiet_for() < 0.25 and time.monotonic() < settle:
                time.sleep(0.02)
    return len(plan)


def count_outcomes(log_path: Path, function: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    if log_path.exists():
        for line in log_path.read_text("utf-8", errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("function") == function and "outcome" in record:
                counts[str(record["outcome"])] += 1
    return dict(counts)


def run(opts: Options) -> Report:
    started = time.monotonic()
    if opts.out.exists():
        shutil.rmtree(opts.out)
    (opts.out / "logs").mkdir(parents=True)
    if opts.history:  # before any function writes: the live events land on top of it
        from cievents import clock
        from cievents.metrics import history

        history.load(opts.out / "metrics.duckdb", clock.now_utc())
    functions, missing, topics = load(opts.root)
    deliveries = load_events(opts.events)
    emulator = start_emulator(opts)
    report = Report(
        bus="Pub/Sub emulator (gcloud)" if emulator else "built-in bus",
        skipped_functions=missing,
        events=len(deliveries),
    )
    router_port = processes.free_port()
    pushed = [f for f in functions if not f.http]
    children: dict[str, processes.Child] = {}
    router: Router | None = None
    logs_server, logs_port = serve_job_logs(deliveries, opts.events)
    scm = GitHubStandIn(
        [
            (d.name, d.headers.get("X-GitHub-Event", ""), json.loads(d.body))
            for d in deliveries
            if d.source == "github"
        ]
    )
    scm_port = scm.serve()
    pr_states = {
        d.name: json.loads((opts.events / f"{d.name}.pr.json").read_text("utf-8"))
        for d in deliveries
        if (opts.events / f"{d.name}.pr.json").exists()
    }
    from cievents.outbox import Outbox

    prs = PullRequestStandIn(
        pr_states, Outbox(opts.out.resolve() / "outbox"), f"http://127.0.0.1:{logs_port}"
    )
    prs_url = f"http://127.0.0.1:{prs.serve()}"
    from cievents.demo.inventory import ORG, InventoryStandIn

    fleet = InventoryStandIn(opts.root / "examples" / "inventory")
    fleet_url = f"http://127.0.0.1:{fleet.serve()}"
    try:
        env = child_env(opts, router_port, f"127.0.0.1:{emulator.port}" if emulator else None)
        stand_in = f"http://127.0.0.1:{logs_port}"
        env["BUILDKITE_API_URL"] = f"{stand_in}/v2"
        # secret_scan reads the other CIs' job logs from the stand-in (only it: the other
        # functions' dry-run requests keep the vendors' own URLs).
        ci_apis = {
            f"{api}_API_URL": stand_in for api in ("GITHUB", "GITLAB", "AZURE_DEVOPS", "BITBUCKET")
        }
        # pr_compliance reads the pull request's state from the GitHub stand-in; its writes
        # (the comment, the status) still go to the outbox, as every demo write does.
        # secret_scan reads the example pull requests of the four SCMs from their stand-in
        # (which passes the CI-log paths on); its writes go to the outbox.
        extra = {
            "secret_scan": {
                **{name: prs_url for name in ci_apis},  # the stand-in passes log paths on
                **demo_github_app(),  # as an App: check runs, as ci-logs' write-backs expect
                "GITLAB_TOKEN": "local-demo",
                "BITBUCKET_TOKEN": "local-demo",
                "AZURE_DEVOPS_PAT": "local-demo",
            },
            # repo_inventory lists the example organization (and re-reads the pushed
            # repository) from its stand-in; the scheduler tick below starts the sync.
            "repo_inventory": {
                "GITHUB_API_URL": fleet_url,
                "GITHUB_TOKEN": "local-demo",
                "INVENTORY_GITHUB_ORGS": ORG,
            },
            "pr_compliance": {
                "GITHUB_API_URL": f"http://127.0.0.1:{scm_port}",
                "GITHUB_TOKEN": "local-demo",
                "COMPLIANCE_POLICY_FILE": str(opts.root / "examples" / "compliance-policy.yaml"),
            },
        }
        children = start_functions(opts, functions, env, extra)
        router = Router(
            pushed,
            {n: c.port for n, c in children.items()},
            opts.out / "dead-letters.jsonl",
            redeliver=opts.times,
        )
        router.serve(router_port)
        if emulator:
            wire_emulator(f"127.0.0.1:{emulator.port}", pushed, topics, router_port)
        if "ingest" not in children:
            raise RuntimeError("the demo needs functions/ingest")
        if "repo_inventory" in children:  # the Cloud Scheduler job's message, as deployed
            router.publish("ci-schedules", "", {"source": "scheduler", "event": "repo_inventory"})
            inventory_until = time.monotonic() + 30
            while router.quiet_for() < 0.5 and time.monotonic() < inventory_until:
                time.sleep(0.05)
        report.deliveries = deliver_all(deliveries, children["ingest"].port, opts, router, scm, prs)
        deadline = time.monotonic() + opts.timeout_s
        while time.monotonic() < deadline and router.quiet_for() < opts.quiet_s:
            time.sleep(0.2)
        report.dead_letters = sum(router.dead.values())
    finally:
        logs_server.shutdown()
        scm.stop()
        prs.stop()
        fleet.stop()
        if router is not None:
            router.stop()
        for child in children.values():
            child.stop()
        if emulator is not None:
            emulator.stop()
    for function in [f for f in functions if not f.http or f.name == "ingest"]:
        report.functions[function.name] = count_outcomes(
            opts.out / "logs" / f"{function.name}.log", function.name
        )
    report.ingest = report.functions.pop("ingest", {})
    report.outbox = preview.write(opts.out)
    if (opts.out / "metrics.duckdb").exists() and "repo_inventory" in report.functions:
        from cievents.demo.inventory import inventory_table

        text, report.inventory = inventory_table(opts.out / "metrics.duckdb")
        (opts.out / "inventory.txt").write_text(text + "\n", "utf-8")
    if (opts.out / "metrics.duckdb").exists():
        from cievents.metrics.report import page

        (opts.out / "build-health.html").write_text(page(opts.out / "metrics.duckdb"), "utf-8")
    spans = traces.load(opts.out / "traces.jsonl")
    richest = traces.richest(spans)
    report.trace = traces.render(spans, richest) if richest else ""
    report.seconds = round(time.monotonic() - started, 1)
    (opts.out / "summary.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def render(report: Report, out: Path) -> str:
    headers = ["function", *OUTCOMES]
    rows = [
        [name, *(str(counts.get(o, 0)) for o in OUTCOMES)]
        for name, counts in report.functions.items()
    ]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        f"events in: {report.events} webhooks, {report.deliveries} deliveries to ingest "
        f"({report.ingest.get('published', 0)} published, "
        f"{report.ingest.get('duplicate', 0)} duplicate, "
        f"{report.ingest.get('refused', 0)} refused) via the {report.bus}",
        "",
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "  ".join("-" * w for w in widths),
        *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows),
        "",
    ]
    if report.skipped_functions:
        lines.append(f"not built yet, so not run: {', '.join(report.skipped_functions)}")
    if report.inventory:
        lines.append(
            f"inventory: {sum(report.inventory.values())} repositories in the assets table ("
            + ", ".join(f"{n} {s}" for s, n in sorted(report.inventory.items()))
            + f"), listed by repo_inventory on a scheduler tick: {out / 'inventory.txt'}"
        )
    lines += [
        f"dead letters: {report.dead_letters}",
        *(["", "one build's trace (spans in traces.jsonl):", report.trace] if report.trace else []),
        "outbox (what would have been sent): "
        + (", ".join(f"{k} {v}" for k, v in sorted(report.outbox.items())) or "empty"),
        "",
        "where to look:",
        f"  {out / 'outbox' / 'index.html'}   readable preview of every request",
        f"  {out / 'build-health.html'}     build health and DORA, 60 days "
        f"(cievents report --db {out / 'metrics.duckdb'} [--serve] redraws it)",
        f"  {out / 'outbox'}/<sink>.jsonl   the requests, one JSON object per line",
        f"  {out / 'archive'}               the raw-payload archive (source=/event=/dt=)",
        f"  {out / 'logs'}                  each function's JSON log lines",
        f"  {out / 'traces.jsonl'}          every span, one JSON object per line",
        f"  {out / 'summary.json'}          these figures",
        f"finished in {report.seconds} s",
    ]
    return "\n".join(lines)
