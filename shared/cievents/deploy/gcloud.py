"""``python -m cievents.deploy.gcloud [--dry-run]``: deploy the manifest with gcloud.

Order: topics and their dead-letter topics; a service account per function;
Secret Manager access per secret; the function (``gcloud functions deploy
--gen2``, HTTP: Pub/Sub reaches it through a direct push subscription, which
can dead-letter, unlike an Eventarc trigger); then each push subscription with
its attribute filter, OIDC push auth, exponential retry and dead-letter topic.
``--dry-run`` (``DRY_RUN=1 make deploy``) prints the commands instead.

Deploy variables (``${name}`` in the manifest) come from ``--var name=value``
or the environment as ``DEPLOY_<NAME>``; project and region from
``--project``/``--region`` or ``GOOGLE_CLOUD_PROJECT``/``DEPLOY_REGION``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from cievents.deploy.manifest import ROOT, Function, Manifest, load
from cievents.deploy.package import build


def service_account(function: Function, project: str) -> str:
    return f"cief-{function.name.replace('_', '-')}@{project}.iam.gserviceaccount.com"


def commands(
    manifest: Manifest,
    project: str,
    region: str,
    variables: dict[str, str],
    sources: dict[str, str],
) -> list[list[str]]:
    cmds: list[list[str]] = []
    p = f"--project={project}"
    for topic in manifest.topics:
        cmds.append(["gcloud", "pubsub", "topics", "create", topic, p])
        cmds.append(["gcloud", "pubsub", "topics", "create", f"{topic}-dead-letter", p])
    for f in manifest.functions:
        sa = service_account(f, project)
        cmds.append(
            [
                "gcloud",
                "iam",
                "service-accounts",
                "create",
                sa.split("@")[0],
                f"--display-name=ci-event-functions {f.name}",
                p,
            ]
        )
        for secret in sorted(set(f.secrets.values())):
            cmds.append(
                [
                    "gcloud",
                    "secrets",
                    "add-iam-policy-binding",
                    secret,
                    f"--member=serviceAccount:{sa}",
                    "--role=roles/secretmanager.secretAccessor",
                    p,
                ]
            )
        for grant in f.roles:
            member, role = f"--member=serviceAccount:{sa}", f"--role={grant['role']}"
            if "topic" in grant:
                cmds.append(
                    [
                        "gcloud",
                        "pubsub",
                        "topics",
                        "add-iam-policy-binding",
                        grant["topic"],
                        member,
                        role,
                        p,
                    ]
                )
            elif "bucket" in grant:
                cmds.append(
                    [
                        "gcloud",
                        "storage",
                        "buckets",
                        "add-iam-policy-binding",
                        f"gs://{variables.get('archive_bucket', '${archive_bucket}')}",
                        member,
                        role,
                        p,
                    ]
                )
            elif "dataset" in grant:
                cmds.append(
                    [
                        "bq",
                        "add-iam-policy-binding",
                        member.replace("--", "--"),
                        role,
                        f"{project}:{variables.get('metrics_dataset', 'ci_metrics')}",
                    ]
                )
            else:
                cmds.append(["gcloud", "projects", "add-iam-policy-binding", project, member, role])
        deploy = [
            "gcloud",
            "functions",
            "deploy",
            f.name.replace("_", "-"),
            "--gen2",
            p,
            f"--region={region}",
            f"--runtime={f.runtime}",
            f"--source={sources[f.name]}",
            f"--entry-point={f.entry_point}",
            "--trigger-http",
            f"--memory={f.memory}",
            f"--timeout={f.timeout}s",
            f"--max-instances={f.max_instances}",
            f"--concurrency={f.concurrency}",
            f"--service-account={sa}",
            "--allow-unauthenticated" if f.public else "--no-allow-unauthenticated",
        ]
        environment = f.environment_with(variables)
        if f.triggers and f.retry:
            environment["CIEVENTS_DEAD_LETTER"] = f"{f.triggers[0].topic}-dead-letter"
        if environment:
            deploy.append(
                "--set-env-vars=^|^" + "|".join(f"{k}={v}" for k, v in sorted(environment.items()))
            )
        if f.secrets:
            deploy.append(
                "--set-secrets=" + ",".join(f"{k}={v}:latest" for k, v in sorted(f.secrets.items()))
            )
        cmds.append(deploy)
        for index, trigger in enumerate(f.triggers):
            sub = [
                "gcloud",
                "pubsub",
                "subscriptions",
                "create",
                f"{f.name.replace('_', '-')}-{index}",
                f"--topic={trigger.topic}",
                p,
                f"--push-endpoint=$(gcloud functions describe {f.name.replace('_', '-')} --gen2 "
                f"--region={region} {p} --format='value(serviceConfig.uri)')",
                f"--push-auth-service-account={sa}",
                "--ack-deadline=60",
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
            cmds.append(sub)
            cmds.append(
                [
                    "gcloud",
                    "functions",
                    "add-invoker-policy-binding",
                    f.name.replace("_", "-"),
                    f"--region={region}",
                    f"--member=serviceAccount:{sa}",
                    p,
                ]
            )
    return cmds


def stage_sources(manifest: Manifest, out: Path) -> dict[str, str]:
    """Each function's zip, unpacked into a folder that gcloud --source can upload."""
    sources = {}
    for f in manifest.functions:
        folder = out / f.name
        with zipfile.ZipFile(build(f, out)) as archive:
            archive.extractall(folder)
        sources[f.name] = str(folder)
    return sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cievents.deploy.gcloud", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", default=bool(os.environ.get("DRY_RUN")))
    parser.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", ""))
    parser.add_argument("--region", default=os.environ.get("DEPLOY_REGION", "europe-west1"))
    parser.add_argument("--var", action="append", default=[], help="deploy variable name=value")
    args = parser.parse_args(argv)
    project = args.project or ("PROJECT_ID" if args.dry_run else "")
    if not project:
        print("deploy: set GOOGLE_CLOUD_PROJECT or --project", file=sys.stderr)
        return 2
    variables = {
        k[len("DEPLOY_") :].lower(): v for k, v in os.environ.items() if k.startswith("DEPLOY_")
    }
    variables.update(dict(v.split("=", 1) for v in args.var))
    variables.setdefault("archive_bucket", f"{project}-ci-events-archive")
    manifest = load()
    staging = (
        Path(tempfile.mkdtemp(prefix="cievents-deploy-")) if not args.dry_run else ROOT / "dist"
    )
    sources = (
        stage_sources(manifest, staging)
        if not args.dry_run
        else {f.name: str(ROOT / "dist" / f.name) for f in manifest.functions}
    )
    for cmd in commands(manifest, project, args.region, variables, sources):
        line = " ".join(shlex.quote(c) if "$(" not in c else c for c in cmd)
        if args.dry_run:
            print(line)
            continue
        print(f"+ {line}", flush=True)
        result = subprocess.run(line, shell=True, check=False)  # noqa: S602 - $(…) needs a shell
        if result.returncode != 0 and " create " not in line:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
