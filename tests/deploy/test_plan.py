"""The deploy, checked without Google: what each function uses at run time exists and is
granted to that function alone, both paths create the same set, every Terraform argument is
one the google provider has, every --source exists after packaging, the dry run is a script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

from cievents.deploy import gcloud, manifest, package, plan
from cievents.errors import ConfigError
from tests.deploy import provider_schema

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PROJECT, REGION = "demo-proj", "europe-west1"
GIVEN = {"jira_url": "https://acme.atlassian.net", "jira_email": "ci-bot@acme.com"}
TERRAFORM = shutil.which("terraform")


def resolved() -> dict[str, str]:
    return manifest.load().resolve(GIVEN, PROJECT, REGION)


def steps() -> list[plan.Step]:
    loaded = manifest.load()
    return plan.build_plan(loaded, resolved(), {f.name: f"dist/{f.name}" for f in loaded.functions})


def sa(function: manifest.Function) -> str:
    return plan.member(plan.service_account(function, PROJECT))


# --- what each function uses at run time, read from its deployed environment ------------------


def runtime_uses(f: manifest.Function, env: dict[str, str]) -> set[tuple[str, str, str]]:
    """(kind, name, role) for everything the function's code reaches, from its settings."""
    uses = {("secret", s, "roles/secretmanager.secretAccessor") for s in f.secrets.values()}
    for name in ("CIEVENTS_TOPIC", "CIEVENTS_FINDINGS_TOPIC"):
        if name in env:
            uses.add(("topic", env[name], "roles/pubsub.publisher"))
    if "CIEVENTS_DEAD_LETTER" in env:
        topic = env["CIEVENTS_DEAD_LETTER"].removeprefix(f"projects/{PROJECT}/topics/")
        uses.add(("dead_letter_topic", topic, "roles/pubsub.publisher"))
    if "ARCHIVE_BUCKET" in env:
        uses.add(("bucket", "archive", "roles/storage.objectCreator"))
    if "BIGQUERY_DATASET" in env:
        uses.add(("dataset", "metrics", "roles/bigquery.dataEditor"))
    if env.get("CIEVENTS_STORE", "").startswith("firestore:"):
        uses.add(("project", "", "roles/datastore.user"))
    if env.get("CIEVENTS_TRACING") == "gcp":
        uses.add(("project", "", "roles/cloudtrace.agent"))
    return uses


def test_every_runtime_resource_is_created_and_granted_to_exactly_its_function() -> None:
    loaded, variables, all_steps = manifest.load(), resolved(), steps()
    created = {s.resource for s in all_steps if s.resource}
    grants = [s.grant for s in all_steps if s.grant]
    for f in loaded.functions:
        env = f.environment_with(variables)
        mine = {(kind, target, role) for who, role, kind, target in grants if who == sa(f)}
        for kind, name, role in runtime_uses(f, env):
            if kind != "project":
                assert (kind, name) in created, f"{f.name} uses {kind} {name}, never created"
            assert (kind, name, role) in mine, f"{f.name} needs {role} on {kind} {name}"
        declared = {(g.kind, g.target, g.role) for g in f.grants()}
        assert mine == declared, f"{f.name}'s service account gets more or less than declared"
        assert len(mine) == len([g for g in grants if g[0] == sa(f)]), "a grant is repeated"
        if f.triggers:
            assert ("function", f.name) in created
            assert ("invoker", f.name, "roles/run.invoker") in mine  # its push subscriptions
            for index, trigger in enumerate(f.triggers):
                sub = next(
                    s
                    for s in all_steps
                    if s.resource == ("subscription", f.subscription_name(index))
                )
                assert f"--topic={trigger.topic}" in sub.apply
                assert (
                    f"--push-auth-service-account={plan.service_account(f, PROJECT)}" in sub.apply
                )
                if f.retry:
                    assert f"--dead-letter-topic={trigger.topic}-dead-letter" in sub.apply
                    assert ("dead_letter_topic", f"{trigger.topic}-dead-letter") in created
    # Everything granted exists; the Pub/Sub service agent forwards dead letters.
    agent = plan.member(plan.PUBSUB_AGENT)
    for who, role, kind, target in grants:
        if kind in ("secret", "topic", "dead_letter_topic", "subscription"):
            assert (kind, target) in created, (who, role, kind, target)
    for topic in loaded.dead_letter_topics:
        assert (agent, "roles/pubsub.publisher", "dead_letter_topic", topic) in grants
        assert ("dead_letter_subscription", topic) in created  # dead letters are kept
    retrying = [
        f.subscription_name(i) for f in loaded.functions if f.retry for i in range(len(f.triggers))
    ]
    for name in retrying:
        assert (agent, "roles/pubsub.subscriber", "subscription", name) in grants
    assert ("firestore_database", "(default)") in created
    for api in loaded.apis:
        assert ("api", api) in created


def test_every_schedule_is_a_job_on_a_topic_a_function_subscribes_to() -> None:
    loaded, all_steps = manifest.load(), steps()
    assert loaded.schedules, "health runs on a schedule"
    for s in loaded.schedules:
        job = next(step for step in all_steps if step.resource == ("schedule", s.name))
        assert f"--topic=projects/{PROJECT}/topics/{s.topic}" in job.apply
        assert ("topic", s.topic) in {step.resource for step in all_steps}
        takers = [
            f
            for f in loaded.functions
            for t in f.triggers
            if t.topic == s.topic and all(f'"{v}"' in t.filter for v in s.attributes.values())
        ]
        assert takers, f"no function subscribes to schedule {s.name}"
    health = next(step for step in all_steps if step.resource == ("schedule", "health"))
    assert "--schedule=*/15 * * * *" in health.apply
    # The inventory's full/incremental sync runs on Cloud Scheduler too, on its own job.
    inventory = next(step for step in all_steps if step.resource == ("schedule", "repo_inventory"))
    assert "--attributes=source=scheduler,event=repo_inventory" in inventory.apply


def test_dead_letter_settings_are_fully_qualified() -> None:
    variables = resolved()
    for f in manifest.load().functions:
        env = f.environment_with(variables)
        assert env["GOOGLE_CLOUD_PROJECT"] == PROJECT
        assert env["CIEVENTS_TRACING"] == "gcp"  # deployed: spans to Cloud Trace
        assert any(
            r.startswith("opentelemetry-exporter-gcp-trace") for r in package.requirements(f)
        )
        if f.triggers and f.retry:
            assert env["CIEVENTS_DEAD_LETTER"] == (
                f"projects/{PROJECT}/topics/{f.triggers[0].topic}-dead-letter"
            )
        else:
            assert "CIEVENTS_DEAD_LETTER" not in env


@pytest.mark.slow
def test_every_source_exists_after_package(tmp_path: Path) -> None:
    assert package.main(["--out", str(tmp_path)]) == 0
    deploys = [s for s in steps() if s.resource and s.resource[0] == "function"]
    assert len(deploys) == len(manifest.load().functions)
    for step in deploys:
        source = next(a for a in step.apply if a.startswith("--source="))
        folder = tmp_path / source.removeprefix("--source=dist/")
        assert (folder / "main.py").is_file() and (folder / "requirements.txt").is_file(), source
        assert (folder / "cievents" / "handler.py").is_file()


# --- variables --------------------------------------------------------------------------------


def test_variables_come_from_the_command_line_then_deploy_env_then_defaults(tmp_path: Path) -> None:
    loaded = manifest.load()
    env_file = tmp_path / "deploy.env"
    env_file.write_text(
        "# comment\nPROJECT=from-file\nJIRA_URL=https://file.atlassian.net\n"
        'JIRA_EMAIL="bot@file"\nSLACK_CHANNEL=#file\n'
    )
    values = gcloud.settings(loaded, {"SLACK_CHANNEL": "#cli"}, env_file)
    assert values["project"] == "from-file"
    assert values["jira_url"] == "https://file.atlassian.net" and values["jira_email"] == "bot@file"
    assert values["slack_channel"] == "#cli"  # the command line wins
    assert values["archive_bucket"] == "from-file-ci-events-archive"  # default with ${project}
    env_file.write_text("PROJECT=p\nJIRA_ULR=https://typo\n")
    with pytest.raises(ConfigError, match="JIRA_ULR"):
        gcloud.settings(loaded, {}, env_file)
    with pytest.raises(ConfigError, match="JIRA_EMAIL .*JIRA_URL"):
        gcloud.settings(loaded, {"PROJECT": "p"}, tmp_path / "absent.env")


def test_no_hard_coded_deploy_values_in_the_manifest() -> None:
    text = (ROOT / "function.yaml").read_text()
    assert "example.atlassian.net" not in text and "example.com" not in text
    readme = (ROOT / "README.md").read_text()
    docs = (ROOT / "docs" / "deploy.md").read_text()
    for name in manifest.load().variables:
        assert f"`{name.upper()}`" in readme, f"README lists no {name.upper()}"
        assert f"`{name.upper()}`" in docs, f"docs/deploy.md lists no {name.upper()}"
    pipelines = manifest.load().variables["deploy_pipelines"].default
    assert f"`DEPLOY_PIPELINES` | `{pipelines}`" in readme


# --- the dry run ------------------------------------------------------------------------------


def dry_run_script() -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("JIRA_URL", "JIRA_EMAIL")}
    env["DEPLOY_ENV"] = "/nonexistent/deploy.env"
    done = subprocess.run(
        [sys.executable, "-m", "cievents.deploy.gcloud", "--dry-run", "--project=p"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    script = done.stdout
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
    assert ': "${JIRA_URL:?export JIRA_URL first' in script  # not set yet: asked for
    syntax = subprocess.run(
        ["bash", "-n"], input=script, text=True, capture_output=True, check=False
    )
    assert syntax.returncode == 0, syntax.stderr
    # Run with no variables exported, it stops at the first line that needs one, before any call.
    stopped = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert stopped.returncode != 0 and "export JIRA_EMAIL first" in stopped.stderr
    return script


def test_dry_run_prints_a_bash_script_to_paste() -> None:
    assert dry_run_script().count("\n# ") > 100


FAKE_CLI = r"""#!/usr/bin/env bash
# An empty project: nothing exists, every create succeeds. Records each call, NUL-separated.
{ printf '%s\0' "$(basename "$0")" "$@"; printf '\n'; } >> "$FAKE_LOG"
case "$*" in
  *"projects describe"*projectNumber*) echo 123456789; exit 0 ;;
  *serviceConfig.uri*) echo "https://$3-x.a.run.app"; exit 0 ;;
  *" describe "*|*" list "*|*get-iam-policy*|*" show "*) exit 1 ;;
esac
exit 0
"""


def test_the_printed_plan_runs_on_an_empty_project(tmp_path: Path) -> None:
    """Pasted into bash (gcloud and bq faked as an empty project), every step acts once."""
    script = dry_run_script()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gcloud", "bq"):
        (bin_dir / name).write_text(FAKE_CLI)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_LOG": str(log),
        "JIRA_URL": "https://acme.atlassian.net",
        "JIRA_EMAIL": "ci-bot@acme.com",
    }
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    calls = [line.split("\0")[:-1] for line in log.read_text().splitlines()]
    applied = [
        c
        for c in calls
        if any(v in c for v in ("create", "deploy", "enable", "mk", "query", "update"))
        or any("add-" in a for a in c)
    ]
    expected = [
        s
        for s in plan.build_plan(
            manifest.load(),
            manifest.load().resolve(GIVEN, "p", REGION),
            {f.name: f"dist/{f.name}" for f in manifest.load().functions},
        )
    ]
    assert len(applied) == len(expected)
    jira = next(c for c in applied if c[:4] == ["gcloud", "functions", "deploy", "jira-update"])
    env_arg = next(a for a in jira if a.startswith("--set-env-vars="))
    assert "|JIRA_URL=https://acme.atlassian.net|" in env_arg + "|"
    sub = next(
        c
        for c in applied
        if c[:5] == ["gcloud", "pubsub", "subscriptions", "create", "jira-update-0"]
    )
    assert "--push-endpoint=https://jira-update-x.a.run.app" in sub
    agent = next(
        c
        for c in applied
        if "--member=serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com" in c
    )
    assert agent


@pytest.mark.slow
@pytest.mark.timeout(1200)  # each distinct command is a gcloud process (~1-2 s, more under load)
@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not on PATH: skipped")
def test_every_gcloud_command_gets_past_gclouds_own_parser(tmp_path: Path) -> None:
    """No login: gcloud parses the arguments, then stops for want of credentials."""
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    lifecycle = tmp_path / "lifecycle.json"
    lifecycle.write_text("{}")
    seen: set[tuple[str, ...]] = set()
    for step in steps():
        for command in (
            step.apply,
            step.check[: step.check.index("|")] if step.check and "|" in step.check else step.check,
        ):
            if not command or command[0] != "gcloud":
                continue
            args = [
                a.replace("${PROJECT_NUMBER}", "123").split("=<(")[0]
                + ("=" + str(lifecycle) if "=<(" in a else "")
                for a in command
            ]
            args = [a if "$(" not in a else a.split("=")[0] + "=https://x.a.run.app" for a in args]
            # One run per command and set of flags: names and values do not change the parse.
            words = [a for a in args if not a.startswith("-")]
            shape = (*words[:-1], *sorted(a.split("=")[0] for a in args if a.startswith("--")))
            if shape in seen:
                continue
            seen.add(shape)
            done = subprocess.run(
                args, capture_output=True, text=True, env=env, timeout=120, check=False
            )
            for bad in (
                "unrecognized arguments",
                "argument --",
                "Invalid choice",
                "invalid choice",
            ):
                assert bad not in done.stderr, f"{' '.join(args)}\n{done.stderr}"
    assert len(seen) > 15


def test_a_real_deploy_without_a_login_stops_at_preflight(tmp_path: Path) -> None:
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud is not on PATH")
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "DEPLOY_ENV": str(tmp_path / "none.env"),
    }
    env.pop("DRY_RUN", None)
    done = subprocess.run(
        [sys.executable, "-m", "cievents.deploy.gcloud", "--project=p"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    problems = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1 and "no gcloud login" in problems[0], done.stderr
    assert "stopped before changing anything" in done.stderr
    assert "+ " not in done.stdout  # no step ran


# --- Terraform: the same set, and every argument the provider's ---------------------------------


def terraform_manifest(tmp_path: Path) -> dict[str, Any]:
    """The provider-free manifest module's outputs, for the same project and variables."""
    module = tmp_path / "manifest"
    shutil.copytree(INFRA / "modules" / "manifest", module)
    shutil.rmtree(module / "tests")
    variables = tmp_path / "test.tfvars.json"
    variables.write_text(
        json.dumps(
            {
                "manifest_path": str(ROOT / "function.yaml"),
                "project": PROJECT,
                "region": REGION,
                "vars": GIVEN,
            }
        )
    )
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    for args in (
        ["init", "-backend=false", "-input=false"],
        ["apply", "-auto-approve", "-input=false", f"-var-file={variables}"],
    ):
        done = subprocess.run(
            [TERRAFORM or "terraform", *args],
            cwd=module,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    out = subprocess.run(
        [TERRAFORM or "terraform", "output", "-json"],
        cwd=module,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {k: v["value"] for k, v in json.loads(out.stdout).items()}


def root_resources() -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as fh:
            document = hcl2.load(fh)
        for section, prefix in (("resource", ""), ("data", "data.")):
            for block in document.get(section, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        resources[f"{prefix}{kind.strip(chr(34))}.{name.strip(chr(34))}"] = {
                            **body,
                            "__file__": path.name,
                        }
    return resources


def terraform_locals() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as fh:
            for block in hcl2.load(fh).get("locals", []):
                found.update(block)
    return found


def table_ids(body: dict[str, Any]) -> set[str]:
    """The BigQuery table ids one google_bigquery_table block creates."""
    table_id, each = str(body["table_id"]).strip('"'), str(body.get("for_each", ""))
    if table_id == "${each.key}" and each.startswith("${local."):
        return set(terraform_locals()[each.removeprefix("${local.").rstrip("}")])
    if table_id == "${each.value}" and each.startswith("${local."):
        value = terraform_locals()[each.removeprefix("${local.").rstrip("}")]
        return set(re.findall(r"[\"']([a-z_]+)[\"']", str(value)))
    if table_id == "${each.value}" and "toset(" in each:
        return set(re.findall(r"[\"']([a-z_]+)[\"']", each))
    return {table_id}


@pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on PATH: skipped")
def test_gcloud_and_terraform_create_the_same_set(tmp_path: Path) -> None:
    tf = terraform_manifest(tmp_path)
    loaded = manifest.load()
    variables = resolved()
    assert tf["variables"] == variables
    for f in loaded.functions:
        assert tf["environment"][f.name] == f.environment_with(variables), f.name
    tf_grants = {(g["function"], g["role"], g["kind"], g["target"]) for g in tf["grants"].values()}
    py_grants = {(g.function, g.role, g.kind, g.target) for g in loaded.grants()}
    assert tf_grants == py_grants
    assert len(tf["grants"]) == len(loaded.grants())
    assert set(tf["dead_letter_topics"]) == set(loaded.dead_letter_topics)
    assert set(tf["secrets"]) == set(loaded.secrets) and set(tf["apis"]) == set(loaded.apis)
    assert set(tf["subscriptions"]) == {
        f.subscription_name(i) for f in loaded.functions for i in range(len(f.triggers))
    }
    assert {"health", "repo_inventory"} <= set(tf["schedules"]), "both scheduled in Terraform"
    for name, job in tf["schedules"].items():
        step = next(s for s in steps() if s.resource == ("schedule", name))
        assert (
            f"--schedule={job['schedule']}" in step.apply
            and f"--time-zone={job['time_zone']}" in step.apply
        )
        assert job["resource_name"] in step.apply
    # Each kind the plan creates is created in the root module, over the same collection.
    resources = root_resources()
    for_each = {
        "api": ("google_project_service.api", "module.manifest.apis"),
        "topic": ("google_pubsub_topic.topic", "module.manifest.topics"),
        "dead_letter_topic": (
            "google_pubsub_topic.dead_letter",
            "module.manifest.dead_letter_topics",
        ),
        "dead_letter_subscription": (
            "google_pubsub_subscription.dead_letter",
            "google_pubsub_topic.dead_letter",
        ),
        "secret": ("google_secret_manager_secret.secret", "module.manifest.secrets"),
        "service_account": ("google_service_account.function", "local.functions"),
        "function": ("google_cloudfunctions2_function.function", "local.functions"),
        "subscription": ("google_pubsub_subscription.push", "local.subscriptions"),
        "schedule": ("google_cloud_scheduler_job.schedule", "module.manifest.schedules"),
    }
    kinds = {s.resource[0] for s in steps() if s.resource}
    singles = {
        "firestore_database": ["google_firestore_database.default"],
        "bucket": ["google_storage_bucket.archive"],
        "dataset": ["google_bigquery_dataset.metrics"],
    }
    for kind in kinds:
        if kind in for_each:
            address, collection = for_each[kind]
            assert collection in str(resources[address]["for_each"]), (kind, address)
        elif kind in singles:
            assert all(a in resources for a in singles[kind]), kind
    tables = {s.resource[1] for s in steps() if s.resource and s.resource[0] in ("table", "view")}
    tf_tables = set()
    for address, body in resources.items():
        if address.startswith("google_bigquery_table."):
            tf_tables |= table_ids(body)
    assert tables == tf_tables
    grant_resources = {
        "secret": "google_secret_manager_secret_iam_member.accessor",
        "topic": "google_pubsub_topic_iam_member.grant",
        "dead_letter_topic": "google_pubsub_topic_iam_member.dead_letter_grant",
        "bucket": "google_storage_bucket_iam_member.grant",
        "dataset": "google_bigquery_dataset_iam_member.grant",
        "project": "google_project_iam_member.grant",
        "invoker": "google_cloud_run_service_iam_member.push_invoker",
    }
    for kind in {g[2] for g in py_grants}:
        body = resources[grant_resources[kind]]
        assert f'g.kind == "{kind}"' in str(body["for_each"]).replace("\\", ""), kind
        assert "google_service_account.function[each.value.function].email" in str(body["member"])
    assert "local.pubsub_agent" in str(
        resources["google_pubsub_topic_iam_member.dead_letter_publisher"]["member"]
    )
    assert "local.pubsub_agent" in str(
        resources["google_pubsub_subscription_iam_member.dead_letter_subscriber"]["member"]
    )


def test_every_terraform_argument_is_in_the_provider_schema() -> None:
    if not (provider_schema.location() / "package.json").is_file():
        where = provider_schema.location()
        pytest.fail(f"the provider schema is not installed at {where}: make provider-schema")
    found: list[str] = []
    checked = 0
    for address, body in root_resources().items():
        data = address.startswith("data.")
        kind = address.removeprefix("data.").split(".")[0]
        try:
            schema = provider_schema.block(kind, data=data)
        except KeyError as exc:
            found.append(f"{body['__file__']}: {exc}")
            continue
        found += provider_schema.problems(kind, body, schema, address)
        checked += 1
    assert not found, "\n".join(found)
    assert checked >= 25
    # The check can fail: a misspelt argument is caught.
    wrong = provider_schema.problems(
        "google_pubsub_subscription",
        {"name": "x", "topic": "t", "ack_deadline": 60, "push_config": [{"push_endpont": "u"}]},
        provider_schema.block("google_pubsub_subscription"),
        "probe",
    )
    assert len(wrong) == 3 and "ack_deadline" in wrong[0] and "push_endpont" in wrong[1]
    assert "needs 'push_endpoint'" in wrong[2]  # and a required argument left out


# --- the real run, against a stand-in project: preflight, idempotency, secrets waiting ---------


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """gcloud and bq faked over a JSON project; the IAM API on loopback grants everything."""
    from tests.support.fakehttp import FakeServer, Reply

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = Path(__file__).with_name("fake_cloud.py")
    for tool in ("gcloud", "bq"):
        (bin_dir / tool).write_text(f'#!/bin/sh\nexec {sys.executable} {fake} {tool} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    state = tmp_path / "project.json"
    loaded = manifest.load()
    state.write_text(json.dumps({"account": "ops@acme.com", "values": list(loaded.secrets)}))
    iam = FakeServer()

    @iam.route("POST", r"/v1/projects/(?P<p>[^/:]+):testIamPermissions")
    def granted(req: Any) -> Reply:
        return Reply(200, {"permissions": req.json()["permissions"]})

    with iam:
        yield {
            "state": state,
            "env": {
                **os.environ,
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "FAKE_STATE": str(state),
                "CIEVENTS_RESOURCE_MANAGER_URL": iam.url,
                "DEPLOY_ENV": str(tmp_path / "none.env"),
                "JIRA_URL": "https://acme.atlassian.net",
                "JIRA_EMAIL": "ci-bot@acme.com",
            },
        }


def deploy(cloud: dict[str, Any], **extra: str) -> tuple[int, str, list[str]]:
    before = json.loads(cloud["state"].read_text()).get("mutations", [])
    env = {**cloud["env"], **extra}
    env.pop("DRY_RUN", None)
    done = subprocess.run(
        [sys.executable, "-m", "cievents.deploy.gcloud", "--project=p", "--region=europe-west1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    after = json.loads(cloud["state"].read_text()).get("mutations", [])
    return done.returncode, done.stdout + done.stderr, after[len(before) :]


@pytest.mark.slow
@pytest.mark.timeout(1500)  # four deploys of ~180 steps, each check a CLI process
def test_make_deploy_on_an_empty_project_then_again_changes_nothing(cloud: dict[str, Any]) -> None:
    assert package.main(["--out", str(ROOT / "dist")]) == 0  # what make deploy runs first
    loaded = manifest.load()
    # 1. An empty project: everything is created, the secrets empty; the functions that need
    #    a secret wait for its value, and the command that adds each is printed.
    status, out, first = deploy(cloud)
    assert status == 3, out[-3000:]
    for secret in loaded.secrets:
        assert f"gcloud secrets versions add {secret} --data-file=- --project=p" in out
        assert f"secrets create {secret}" in first
    deployed = {c.split()[2] for c in first if c.startswith("functions deploy ")}
    assert deployed == {f.resource_name for f in loaded.functions if not f.secrets}
    # 2. The values added, the rest follows, and only the rest.
    state = json.loads(cloud["state"].read_text())
    state["values"] = list(loaded.secrets)
    cloud["state"].write_text(json.dumps(state))
    status, out, second = deploy(cloud)
    assert status == 0, out[-3000:]
    assert "change(s) made" in out
    assert not set(first) & set(second), sorted(set(first) & set(second))
    assert len(first) + len(second) == len(steps())  # every step acted exactly once
    assert {c.split()[2] for c in second if c.startswith("functions deploy ")} == {
        f.resource_name for f in loaded.functions if f.secrets
    }
    # 3. Again: nothing changes, and it says so.
    status, out, third = deploy(cloud)
    assert status == 0 and third == [], third
    assert "deploy: nothing changed" in out and "\n+ " not in out
    # 4. One setting changed: only the function that uses it is redeployed.
    status, out, fourth = deploy(cloud, SLACK_CHANNEL="#elsewhere")
    assert (
        status == 0 and len(fourth) == 1 and fourth[0].startswith("functions deploy slack-notify")
    )
