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
from collections.abc import Mapping
from pathlib import Path

from cievents.deploy.manifest import ROOT, Function, Manifest, load
from cievents.deploy.package import build
from cievents.errors import ConfigError


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
                        f"gs://{variables['archive_bucket']}",
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
                        f"{project}:{variables['metrics_dataset']}",
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


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines; blank lines and ``#`` comments skipped, one level of quotes removed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise ConfigError(str(path), f"line {number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def given_variables(
    manifest: Manifest, environ: Mapping[str, str], env_file: Path
) -> dict[str, str]:
    """Deploy variables set by the user: the environment (``make deploy NAME=…``) over the file.

    Names are the variables' upper-case form (``JIRA_URL`` for ``jira_url``).
    """
    from_file = read_env_file(env_file)
    unknown = sorted(
        n
        for n in from_file
        if n.lower() not in manifest.variables and n not in ("PROJECT", "REGION")
    )
    if unknown:
        known = ", ".join(v.upper() for v in manifest.variables)
        raise ConfigError(str(env_file), f"unknown variables {', '.join(unknown)}; known: {known}")
    given: dict[str, str] = {}
    for name in manifest.variables:
        upper = name.upper()
        if upper in environ:
            given[name] = environ[upper]
        elif upper in from_file:
            given[name] = from_file[upper]
    return given


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cievents.deploy.gcloud", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", default=bool(os.environ.get("DRY_RUN")))
    parser.add_argument(
        "--project", default="", help="default: PROJECT, deploy.env, GOOGLE_CLOUD_PROJECT"
    )
    parser.add_argument("--region", default="", help="default: REGION, deploy.env, europe-west1")
    parser.add_argument("--var", action="append", default=[], help="deploy variable name=value")
    parser.add_argument(
        "--env-file",
        default=os.environ.get("DEPLOY_ENV", str(ROOT / "deploy.env")),
        help="NAME=value lines (default deploy.env; a missing file is fine)",
    )
    args = parser.parse_args(argv)
    from_file = read_env_file(Path(args.env_file))
    project = (
        args.project
        or os.environ.get("PROJECT")
        or from_file.get("PROJECT")
        or os.environ.get("GOOGLE_CLOUD_PROJECT", "")
    ) or ("PROJECT_ID" if args.dry_run else "")
    region = args.region or os.environ.get("REGION") or from_file.get("REGION") or "europe-west1"
    if not project:
        print("deploy: set PROJECT (make deploy PROJECT=my-project) or --project", file=sys.stderr)
        return 2
    manifest = load()
    given = given_variables(manifest, os.environ, Path(args.env_file))
    given.update(dict(v.split("=", 1) for v in args.var))
    if args.dry_run:  # a plan to paste: what is not set yet stays a shell variable
        given.update({name: f"${{{name.upper()}}}" for name in manifest.missing(given)})
    variables = manifest.resolve(given, project, region)
    staging = (
        Path(tempfile.mkdtemp(prefix="cievents-deploy-")) if not args.dry_run else ROOT / "dist"
    )
    sources = (
        stage_sources(manifest, staging)
        if not args.dry_run
        else {f.name: str(ROOT / "dist" / f.name) for f in manifest.functions}
    )
    for cmd in commands(manifest, project, region, variables, sources):
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
