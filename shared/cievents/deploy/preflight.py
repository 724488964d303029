"""Preflight for ``make deploy``: what is missing, named, before anything changes.

Stops on: no gcloud, no active login, a project that cannot be seen, billing
off, permissions the deploying account lacks (``projects.testIamPermissions``),
deploy variables not set, packaged sources not there. Reports, without
stopping: secrets that have no value yet (their functions are deployed once
they do; the command to add each is printed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cievents.deploy.manifest import Manifest

__all__ = ["PERMISSIONS", "Findings", "Runner", "gcloud_runner", "preflight"]

# What the deploy itself calls, by step (docs/deploy.md lists the roles that carry them).
PERMISSIONS = (
    "serviceusage.services.enable",
    "serviceusage.services.list",
    "resourcemanager.projects.getIamPolicy",
    "resourcemanager.projects.setIamPolicy",
    "iam.serviceAccounts.create",
    "iam.serviceAccounts.actAs",
    "pubsub.topics.create",
    "pubsub.topics.setIamPolicy",
    "pubsub.subscriptions.create",
    "pubsub.subscriptions.setIamPolicy",
    "secretmanager.secrets.create",
    "secretmanager.secrets.setIamPolicy",
    "storage.buckets.create",
    "storage.buckets.setIamPolicy",
    "bigquery.datasets.create",
    "bigquery.tables.create",
    "cloudfunctions.functions.create",
    "cloudfunctions.functions.update",
    "run.services.setIamPolicy",
    "cloudscheduler.jobs.create",
    "datastore.databases.create",
)

Runner = Callable[[Sequence[str]], tuple[int, str]]


def gcloud_runner(args: Sequence[str]) -> tuple[int, str]:
    """Run a command, return (exit status, stdout stripped); stderr is swallowed."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, done.stdout.strip()


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)  # stop before changing anything
    notes: list[str] = field(default_factory=list)  # reported, deploy goes on
    account: str = ""
    project_number: str = ""
    secrets_without_value: list[str] = field(default_factory=list)
    enabled_apis: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems


def _test_permissions(project: str, token: str) -> list[str] | None:
    """Permissions the caller lacks on the project, or None when the API cannot answer."""
    base = os.environ.get(
        "CIEVENTS_RESOURCE_MANAGER_URL", "https://cloudresourcemanager.googleapis.com"
    ).rstrip("/")
    url = f"{base}/v1/projects/{project}:testIamPermissions"
    request = urllib.request.Request(  # noqa: S310 - https, or a test's loopback fake
        url,
        data=json.dumps({"permissions": list(PERMISSIONS)}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            granted = set(json.loads(answer.read() or b"{}").get("permissions", []))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return [p for p in PERMISSIONS if p not in granted]


def preflight(
    manifest: Manifest,
    project: str,
    missing_variables: list[str],
    sources: dict[str, str],
    run: Runner = gcloud_runner,
    test_permissions: Callable[[str, str], list[str] | None] = _test_permissions,
) -> Findings:
    found = Findings()
    if shutil.which("gcloud") is None:
        found.problems.append("gcloud is not installed: https://cloud.google.com/sdk/docs/install")
        return found
    status, account = run(
        ["gcloud", "auth", "list", "--filter=status:ACTIVE", "--format=value(account)"]
    )
    if status != 0 or not account:
        found.problems.append(
            "no gcloud login: run `gcloud auth login` (or `gcloud auth "
            "activate-service-account --key-file=…`), then `make deploy` again"
        )
        return found  # every later check would fail for the same reason
    found.account = account.splitlines()[0]
    status, number = run(
        ["gcloud", "projects", "describe", project, "--format=value(projectNumber)"]
    )
    if status != 0 or not number:
        found.problems.append(
            f"project {project!r} does not exist or {found.account} cannot see it "
            f"(gcloud projects describe {project})"
        )
        return found
    found.project_number = number
    status, billing = run(
        ["gcloud", "billing", "projects", "describe", project, "--format=value(billingEnabled)"]
    )
    if status == 0 and billing.lower() == "false":
        found.problems.append(
            f"billing is not enabled on {project}: gcloud billing projects link {project} "
            "--billing-account=XXXXXX-XXXXXX-XXXXXX"
        )
    elif status != 0:
        found.notes.append(f"could not read the billing state of {project}; deploying anyway")
    _, token = run(["gcloud", "auth", "print-access-token"])
    lacking = test_permissions(project, token) if token else None
    if lacking:
        found.problems.append(
            f"{found.account} lacks on {project}: {', '.join(lacking)} "
            "(roles/owner has them all; docs/deploy.md lists narrower roles)"
        )
    elif lacking is None:
        found.notes.append("could not test IAM permissions; a step that lacks one will say so")
    for name in missing_variables:
        found.problems.append(
            f"deploy variable {name.upper()} is not set (make deploy {name.upper()}=…)"
        )
    for name, folder in sources.items():
        if not (Path(folder) / "main.py").is_file():
            found.problems.append(f"{folder} is missing for {name}: run `make package`")
    status, enabled = run(
        [
            "gcloud",
            "services",
            "list",
            "--enabled",
            f"--project={project}",
            "--format=value(config.name)",
        ]
    )
    found.enabled_apis = set(enabled.split()) if status == 0 else set()
    for secret in manifest.secrets:
        status, versions = (
            run(
                [
                    "gcloud",
                    "secrets",
                    "versions",
                    "list",
                    secret,
                    f"--project={project}",
                    "--filter=state=ENABLED",
                    "--limit=1",
                    "--format=value(name)",
                ]
            )
            if "secretmanager.googleapis.com" in found.enabled_apis
            else (1, "")
        )
        if status != 0 or not versions:
            found.secrets_without_value.append(secret)
    return found
