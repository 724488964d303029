"""The gcloud deploy plan: every step from an empty project to a working bundle.

A plan is a list of :class:`Step`. Each step has the command that makes one
resource or grant exist (``apply``) and, where gcloud can tell, a command that
succeeds when it already does (``check``), so running the plan twice changes
nothing the second time. ``resource`` / ``grant`` say what a step creates, so
the deploy tests can compare this plan with Terraform's without Google.

Order: APIs, the Firestore database, topics, dead-letter topics (each with a
pull subscription that keeps what lands there), secrets (empty), the archive
bucket, the dataset with its tables and views, one service account per
function and its grants, the functions, their push subscriptions and invoker
grants, the Pub/Sub service agent's dead-letter grants, the scheduler jobs.

Values the plan cannot know offline stay shell expressions: the project
number (``${PROJECT_NUMBER}``, set at the top of a printed plan), each
function's URL (``$(gcloud functions describe …)``) and, in a dry run, the
deploy variables not given yet (``${JIRA_URL}``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from cievents.deploy.manifest import ROOT, Function, Grant, Manifest, fill
from cievents.deploy.package import content_digest
from cievents.metrics.schema import CLUSTERED_BY, PARTITIONING, TABLES

__all__ = [
    "PUBSUB_AGENT",
    "Step",
    "build_plan",
    "member",
    "quote",
    "render",
    "service_account",
]

PUBSUB_AGENT = "service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
DEAD_LETTER_RETENTION = "7d"
_SHELL = re.compile(r"(\$\{[A-Z_][A-Z0-9_]*\}|\$\([^()]*(?:\([^()]*\)[^()]*)*\)|<\([^()]*\))")


@dataclass(frozen=True)
class Step:
    """One idempotent step: ``check || apply``."""

    what: str
    apply: tuple[str, ...]
    check: tuple[str, ...] | None = None
    resource: tuple[str, str] | None = None  # (kind, name) it creates
    grant: tuple[str, str, str, str] | None = None  # (member, role, kind, target)
    function: str = ""  # the function it deploys, for steps that need its secrets' values

    def check_line(self) -> str:
        return " ".join(quote(c) for c in self.check or ())

    def line(self, check: bool = True) -> str:
        """The step as one shell line: ``{ check; } >/dev/null 2>&1 || apply``."""
        apply = " ".join(quote(a) for a in self.apply)
        if check and self.check:
            return f"{{ {self.check_line()}; }} >/dev/null 2>&1 || {apply}"
        return apply


def quote(arg: str) -> str:
    """Shell-quote ``arg``, leaving ``${NAME}``, ``$(…)`` and ``<(…)`` in it to the shell."""
    if arg in ("|", ">/dev/null", "2>&1", "||", "&&") or arg.startswith(("grep ", "python3 -c ")):
        return arg
    out = []
    for piece in _SHELL.split(arg):
        if not piece:
            continue
        if piece.startswith("<("):
            out.append(piece)  # process substitution: only unquoted
        elif _SHELL.fullmatch(piece):
            out.append(f'"{piece}"')
        elif re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", piece):
            out.append(piece)
        else:
            out.append("'" + piece.replace("'", "'\"'\"'") + "'")
    return "".join(out) or "''"


def service_account(function: Function, project: str) -> str:
    return f"{function.account_id}@{project}.iam.gserviceaccount.com"


def member(email: str) -> str:
    return f"serviceAccount:{email}"


def _has_binding(*get_policy: str, role: str, who: str) -> tuple[str, ...]:
    """A check: the policy ``get_policy`` prints already binds ``who`` to ``role``.

    Checks grep without ``-q``: grep reads to the end, so the command before it is never
    cut off by SIGPIPE, which ``pipefail`` would count as a failed check.
    """
    return (
        *get_policy,
        "--flatten=bindings[].members",
        "--format=csv[no-heading](bindings.role,bindings.members)",
        "|",
        f"grep -xF {quote(f'{role},{who}')}",
    )


def _lifecycle(variables: Mapping[str, str]) -> str:
    rules: list[dict[str, object]] = [
        {
            "action": {"type": "SetStorageClass", "storageClass": "COLDLINE"},
            "condition": {"age": int(variables["archive_coldline_after_days"])},
        }
    ]
    if int(variables["archive_delete_after_days"]) > 0:
        rules.append(
            {
                "action": {"type": "Delete"},
                "condition": {"age": int(variables["archive_delete_after_days"])},
            }
        )
    return json.dumps({"rule": rules}, separators=(",", ":"))


def _raw_events_ddl(table: str, bucket: str) -> str:
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{table}` "
        "(message_id STRING, publish_time TIMESTAMP, attributes JSON, body STRING, "
        "body_base64 BOOL) WITH PARTITION COLUMNS (source STRING, event STRING, dt DATE) "
        f"OPTIONS (format = 'NEWLINE_DELIMITED_JSON', uris = ['gs://{bucket}/*'], "
        f"hive_partition_uri_prefix = 'gs://{bucket}', require_hive_partition_filter = true)"
    )


def views(folder: Path) -> list[tuple[str, str]]:
    """Every ``<view>.sql`` in ``folder``, each after the views its SQL reads."""
    texts = {p.stem: p.read_text("utf-8") for p in sorted(folder.glob("*.sql"))}
    done: list[tuple[str, str]] = []

    def add(name: str, seen: tuple[str, ...]) -> None:
        if name in (d for d, _ in done) or name in seen:
            return
        for other in texts:
            if other != name and re.search(rf"\.{other}\b", texts[name]):
                add(other, (*seen, name))
        done.append((name, texts[name]))

    for name in texts:
        add(name, ())
    return done


# Exit 0 when the JSON policy on stdin binds argv[2] to role argv[1] (bq prints no CSV).
_BINDING_IN_JSON = (
    "import json,sys; p=json.load(sys.stdin); r,m=sys.argv[1:3]; "
    "sys.exit(0 if any(b.get('role')==r and m in b.get('members',[]) "
    "for b in p.get('bindings',[])) else 1)"
)


def _grant_step(grant: Grant, who: str, p: str, region: str, v: Mapping[str, str]) -> Step:
    role, kind, target = grant.role, grant.kind, grant.target
    m = f"--member={who}"
    key = (who, role, kind, target)
    what = f"grant {role} on {kind} {target or v['project']} to {grant.function}"
    get: tuple[str, ...]
    apply: tuple[str, ...]
    if kind == "secret":
        get = ("gcloud", "secrets", "get-iam-policy", target, p)
        apply = ("gcloud", "secrets", "add-iam-policy-binding", target, m, f"--role={role}", p)
    elif kind in ("topic", "dead_letter_topic"):
        get = ("gcloud", "pubsub", "topics", "get-iam-policy", target, p)
        apply = (
            "gcloud",
            "pubsub",
            "topics",
            "add-iam-policy-binding",
            target,
            m,
            f"--role={role}",
            p,
        )
    elif kind == "bucket":
        bucket = f"gs://{v['archive_bucket']}"
        get = ("gcloud", "storage", "buckets", "get-iam-policy", bucket)
        apply = (
            "gcloud",
            "storage",
            "buckets",
            "add-iam-policy-binding",
            bucket,
            m,
            f"--role={role}",
        )
    elif kind == "dataset":
        dataset = f"{v['project']}:{v['metrics_dataset']}"
        return Step(
            what,
            ("bq", "add-iam-policy-binding", "--dataset", m, f"--role={role}", dataset),
            (
                "bq",
                "get-iam-policy",
                "--dataset",
                "--format=json",
                dataset,
                "|",
                "python3 -c " + quote(_BINDING_IN_JSON),
                quote(role),
                quote(who),
            ),
            grant=key,
        )
    elif kind == "invoker":
        name = target.replace("_", "-")
        get = ("gcloud", "run", "services", "get-iam-policy", name, f"--region={region}", p)
        apply = (
            "gcloud",
            "functions",
            "add-invoker-policy-binding",
            name,
            f"--region={region}",
            m,
            p,
        )
    else:  # project
        get = ("gcloud", "projects", "get-iam-policy", v["project"])
        apply = (
            "gcloud",
            "projects",
            "add-iam-policy-binding",
            v["project"],
            m,
            f"--role={role}",
            "--condition=None",
        )
    return Step(what, apply, _has_binding(*get, role=role, who=who), grant=key)


def _function_steps(
    f: Function, project: str, region: str, v: Mapping[str, str], source: str
) -> list[Step]:
    p = f"--project={project}"
    sa = service_account(f, project)
    environment = f.environment_with(v)
    deploy = [
        "gcloud",
        "functions",
        "deploy",
        f.resource_name,
        "--gen2",
        p,
        f"--region={region}",
        f"--runtime={f.runtime}",
        f"--source={source}",
        f"--entry-point={f.entry_point}",
        "--trigger-http",
        f"--memory={f.memory}",
        f"--timeout={f.timeout}s",
        f"--max-instances={f.max_instances}",
        f"--concurrency={f.concurrency}",
        f"--service-account={sa}",
        "--allow-unauthenticated" if f.public else "--no-allow-unauthenticated",
        "--ingress-settings=" + ("all" if f.public else "internal-and-gclb"),
    ]
    if f.concurrency > 1:
        deploy.append("--cpu=1")
    deploy.append(
        "--set-env-vars=^|^" + "|".join(f"{k}={val}" for k, val in sorted(environment.items()))
    )
    if f.secrets:
        deploy.append(
            "--set-secrets=" + ",".join(f"{k}={s}:latest" for k, s in sorted(f.secrets.items()))
        )
    # The label says which source and settings are live, so an unchanged function is skipped.
    config = hashlib.sha256(
        json.dumps([deploy, content_digest(f)], sort_keys=True).encode()
    ).hexdigest()[:16]
    deploy.append(f"--update-labels=cief-config={config}")
    describe = (
        "gcloud",
        "functions",
        "describe",
        f.resource_name,
        "--gen2",
        f"--region={region}",
        p,
    )
    steps = [
        Step(
            f"function {f.name} (source and settings {config})",
            tuple(deploy),
            (*describe, "--format=value(labels.cief-config)", "|", f"grep -x {config}"),
            resource=("function", f.name),
            function=f.name,
        )
    ]
    url = (
        f"$(gcloud functions describe {f.resource_name} --gen2 --region={region} {p} "
        "--format='value(serviceConfig.uri)')"
    )
    for index, trigger in enumerate(f.triggers):
        name = f.subscription_name(index)
        sub = [
            "gcloud",
            "pubsub",
            "subscriptions",
            "create",
            name,
            f"--topic={trigger.topic}",
            p,
            f"--push-endpoint={url}",
            f"--push-auth-service-account={sa}",
            "--ack-deadline=60",
            "--message-retention-duration=7d",
        ]
        if trigger.filter:
            sub.append(f"--message-filter={trigger.filter}")
        if f.retry:
            sub += [
                "--min-retry-delay=10s",
                "--max-retry-delay=600s",
                f"--dead-letter-topic={trigger.topic}-dead-letter",
                f"--max-delivery-attempts={f.max_delivery_attempts}",
            ]
        steps.append(
            Step(
                f"push subscription {name} → {f.name}",
                tuple(sub),
                ("gcloud", "pubsub", "subscriptions", "describe", name, p),
                resource=("subscription", name),
                function=f.name,
            )
        )
        if f.retry:
            # The Pub/Sub service agent acknowledges what it forwards to the dead-letter topic.
            agent = member(PUBSUB_AGENT)
            role = "roles/pubsub.subscriber"
            steps.append(
                Step(
                    f"Pub/Sub service agent {role} on {name}",
                    (
                        "gcloud",
                        "pubsub",
                        "subscriptions",
                        "add-iam-policy-binding",
                        name,
                        f"--member={agent}",
                        f"--role={role}",
                        p,
                    ),
                    _has_binding(
                        "gcloud",
                        "pubsub",
                        "subscriptions",
                        "get-iam-policy",
                        name,
                        p,
                        role=role,
                        who=agent,
                    ),
                    grant=(agent, role, "subscription", name),
                )
            )
    return steps


def build_plan(
    manifest: Manifest,
    variables: Mapping[str, str],
    sources: Mapping[str, str],
) -> list[Step]:
    """Every step, in order. ``variables`` are resolved (``Manifest.resolve``)."""
    project, region = variables["project"], variables["region"]
    p = f"--project={project}"
    steps: list[Step] = []
    for api in manifest.apis:
        steps.append(
            Step(
                f"API {api}",
                ("gcloud", "services", "enable", api, p),
                (
                    "gcloud",
                    "services",
                    "list",
                    "--enabled",
                    p,
                    f"--filter=config.name={api}",
                    "--format=value(config.name)",
                    "|",
                    "grep .",
                ),
                resource=("api", api),
            )
        )
    steps.append(
        Step(
            "Firestore database (default)",
            (
                "gcloud",
                "firestore",
                "databases",
                "create",
                "--database=(default)",
                f"--location={variables['firestore_location']}",
                "--type=firestore-native",
                "--delete-protection",
                p,
            ),
            ("gcloud", "firestore", "databases", "describe", "--database=(default)", p),
            resource=("firestore_database", "(default)"),
        )
    )
    for topic in manifest.topics:
        steps.append(
            Step(
                f"topic {topic}",
                ("gcloud", "pubsub", "topics", "create", topic, p),
                ("gcloud", "pubsub", "topics", "describe", topic, p),
                resource=("topic", topic),
            )
        )
    agent = member(PUBSUB_AGENT)
    for topic in manifest.dead_letter_topics:
        steps += [
            Step(
                f"dead-letter topic {topic}",
                (
                    "gcloud",
                    "pubsub",
                    "topics",
                    "create",
                    topic,
                    f"--message-retention-duration={DEAD_LETTER_RETENTION}",
                    p,
                ),
                ("gcloud", "pubsub", "topics", "describe", topic, p),
                resource=("dead_letter_topic", topic),
            ),
            Step(
                f"dead-letter subscription {topic} (keeps dead letters for replay)",
                (
                    "gcloud",
                    "pubsub",
                    "subscriptions",
                    "create",
                    topic,
                    f"--topic={topic}",
                    "--ack-deadline=60",
                    f"--message-retention-duration={DEAD_LETTER_RETENTION}",
                    "--retain-acked-messages",
                    "--expiration-period=never",
                    p,
                ),
                ("gcloud", "pubsub", "subscriptions", "describe", topic, p),
                resource=("dead_letter_subscription", topic),
            ),
            Step(
                f"Pub/Sub service agent roles/pubsub.publisher on {topic}",
                (
                    "gcloud",
                    "pubsub",
                    "topics",
                    "add-iam-policy-binding",
                    topic,
                    f"--member={agent}",
                    "--role=roles/pubsub.publisher",
                    p,
                ),
                _has_binding(
                    "gcloud",
                    "pubsub",
                    "topics",
                    "get-iam-policy",
                    topic,
                    p,
                    role="roles/pubsub.publisher",
                    who=agent,
                ),
                grant=(agent, "roles/pubsub.publisher", "dead_letter_topic", topic),
            ),
        ]
    for secret in manifest.secrets:
        steps.append(
            Step(
                f"secret {secret} (created empty)",
                ("gcloud", "secrets", "create", secret, "--replication-policy=automatic", p),
                ("gcloud", "secrets", "describe", secret, p),
                resource=("secret", secret),
            )
        )
    bucket = f"gs://{variables['archive_bucket']}"
    steps += [
        Step(
            f"archive bucket {bucket}",
            (
                "gcloud",
                "storage",
                "buckets",
                "create",
                bucket,
                p,
                f"--location={region}",
                "--uniform-bucket-level-access",
                "--public-access-prevention",
                f"--lifecycle-file=<(printf '%s' {quote(_lifecycle(variables))})",
            ),
            ("gcloud", "storage", "buckets", "describe", bucket),
            resource=("bucket", "archive"),
        ),
        Step(
            f"archive bucket {bucket}: object versioning",
            ("gcloud", "storage", "buckets", "update", bucket, "--versioning"),
            (
                "gcloud",
                "storage",
                "buckets",
                "describe",
                bucket,
                "--format=value(versioning_enabled)",
                "|",
                "grep -i true",
            ),
        ),
    ]
    dataset = f"{project}:{variables['metrics_dataset']}"
    sql_dataset = f"{project}.{variables['metrics_dataset']}"
    steps.append(
        Step(
            f"dataset {dataset}",
            ("bq", f"--project_id={project}", "mk", "--dataset", f"--location={region}", dataset),
            ("bq", f"--project_id={project}", "show", "--dataset", dataset),
            resource=("dataset", "metrics"),
        )
    )
    schemas = ROOT / "shared" / "cievents" / "data"
    for table in TABLES:
        steps.append(
            Step(
                f"table {dataset}.{table}",
                (
                    "bq",
                    f"--project_id={project}",
                    "mk",
                    "--table",
                    f"--schema={(schemas / 'bigquery' / f'{table}.json').relative_to(ROOT)}",
                    f"--time_partitioning_field={PARTITIONING[table]}",
                    "--time_partitioning_type=DAY",
                    f"--clustering_fields={','.join(CLUSTERED_BY[table])}",
                    f"{dataset}.{table}",
                ),
                ("bq", f"--project_id={project}", "show", f"{dataset}.{table}"),
                resource=("table", table),
            )
        )
    steps.append(
        Step(
            f"external table {dataset}.raw_events (the archive)",
            (
                "bq",
                f"--project_id={project}",
                "query",
                "--use_legacy_sql=false",
                _raw_events_ddl(f"{sql_dataset}.raw_events", variables["archive_bucket"]),
            ),
            ("bq", f"--project_id={project}", "show", f"{dataset}.raw_events"),
            resource=("table", "raw_events"),
        )
    )
    for view, text in views(schemas / "views"):
        sql = text.replace("{dataset}", sql_dataset)
        steps.append(
            Step(
                f"view {dataset}.{view}",
                (
                    "bq",
                    f"--project_id={project}",
                    "mk",
                    "--use_legacy_sql=false",
                    f"--view={sql}",
                    f"{dataset}.{view}",
                ),
                ("bq", f"--project_id={project}", "show", f"{dataset}.{view}"),
                resource=("view", view),
            )
        )
    for f in manifest.functions:
        sa = service_account(f, project)
        steps.append(
            Step(
                f"service account {sa}",
                (
                    "gcloud",
                    "iam",
                    "service-accounts",
                    "create",
                    f.account_id,
                    f"--display-name=ci-event-functions {f.name}",
                    p,
                ),
                ("gcloud", "iam", "service-accounts", "describe", sa, p),
                resource=("service_account", f.name),
            )
        )
        before = [g for g in f.grants() if g.kind != "invoker"]
        steps += [_grant_step(g, member(sa), p, region, variables) for g in before]
        steps += _function_steps(f, project, region, variables, sources[f.name])
        steps += [
            replace(_grant_step(g, member(sa), p, region, variables), function=f.name)
            for g in f.grants()
            if g.kind == "invoker"
        ]
    for s in manifest.schedules:
        steps.append(
            Step(
                f"schedule {s.resource_name} → topic {s.topic}",
                (
                    "gcloud",
                    "scheduler",
                    "jobs",
                    "create",
                    "pubsub",
                    s.resource_name,
                    f"--location={region}",
                    f"--schedule={fill(s.schedule, variables, s.name)}",
                    f"--time-zone={fill(s.time_zone, variables, s.name)}",
                    f"--topic=projects/{project}/topics/{s.topic}",
                    f"--message-body={s.data}",
                    "--attributes="
                    + ",".join(
                        f"{k}={fill(val, variables, s.name)}" for k, val in s.attributes.items()
                    ),
                    p,
                ),
                (
                    "gcloud",
                    "scheduler",
                    "jobs",
                    "describe",
                    s.resource_name,
                    f"--location={region}",
                    p,
                ),
                resource=("schedule", s.name),
            )
        )
    return steps


def render(steps: list[Step], manifest: Manifest, variables: Mapping[str, str]) -> str:
    """The plan as a bash script to paste into a shell at the repository root.

    Deploy variables left as ``${NAME}`` (a dry run without them) must be exported first:
    the script says so and stops if they are not.
    """
    project, region = variables["project"], variables["region"]
    missing = sorted(
        n for n, v in variables.items() if v == f"${{{n.upper()}}}" and n in manifest.variables
    )
    lines = [
        "#!/usr/bin/env bash",
        f"# ci-event-functions: deploy plan for project {project}, region {region}",
        "# (make deploy DRY_RUN=1). Run it from the repository root after `make package`;",
        "# each step checks first, so running it again changes nothing.",
        "set -euo pipefail",
    ]
    for name in missing:
        hint = manifest.variables[name].description.rstrip(".")
        lines.append(f': "${{{name.upper()}:?export {name.upper()} first ({hint})}}"')
    lines.append(
        f"PROJECT_NUMBER=\"$(gcloud projects describe {project} --format='value(projectNumber)')\""
    )
    for step in steps:
        lines += [f"# {step.what}", step.line()]
    return "\n".join(lines) + "\n"
