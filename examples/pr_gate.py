"""The PR-gate part of the example day: on GitHub, GitLab, Bitbucket and Azure Repos a pull
request adds a credential (fake, format-valid, generated here), then a fixing push removes it.

Each webhook comes with NAME.pr.json: the pull request as the SCM has it after that event
(repository, number, head, and each changed file's text before and after), which the demo's
stand-in serves through each vendor's API, so secret_scan reads the PR through the same
client code as against the real SCMs.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from pathlib import Path
from typing import Any

from cievents.scanning.validate import github_style_token

rng = random.Random(20261201)  # noqa: S311 - reproducible fake data, not secrets
B62 = string.ascii_letters + string.digits
BEFORE = "import os\n\nREGION = 'eu-west-1'\nTIMEOUT_S = 30\n"
PATH = "deploy/settings.py"


def sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()  # noqa: S324 - a fake commit id


def token(prefix: str) -> str:
    return github_style_token(prefix, "".join(rng.choice(B62) for _ in range(30)))


def leaking(secret: str) -> str:
    return BEFORE + f"PUBLISH_TOKEN = '{secret}'  # TODO move to the secret store\n"


FIXED = BEFORE + "PUBLISH_TOKEN = None  # read from the secret store at runtime\n"


def _github(action: str, head: str) -> tuple[dict[str, Any], dict[str, str]]:
    pr = {
        "number": 12,
        "state": "open",
        "title": "PAY-91 Publish the SDK from CI",
        "html_url": "https://github.com/acme-inc/payments/pull/12",
        "user": {"login": "ravi"},
        "head": {"ref": "feature/PAY-91-publish", "sha": head},
        "base": {"ref": "main", "sha": sha("payments-main")},
        "draft": False,
        "merged": False,
    }
    body = {
        "action": action,
        "number": 12,
        "pull_request": pr,
        "repository": {"full_name": "acme-inc/payments", "name": "payments"},
        "sender": {"login": "ravi"},
    }
    return body, {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": sha(f"gh-{action}")}


def _gitlab(action: str, head: str) -> tuple[dict[str, Any], dict[str, str]]:
    body = {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"username": "ravi", "name": "Ravi Patel"},
        "project": {
            "path_with_namespace": "platform/infra-tools",
            "web_url": "https://gitlab.com/platform/infra-tools",
        },
        "object_attributes": {
            "iid": 31,
            "title": "OPS-12 Release job publishes the chart",
            "state": "opened",
            "action": action,
            "source_branch": "ops-12-publish",
            "target_branch": "main",
            "url": "https://gitlab.com/platform/infra-tools/-/merge_requests/31",
            "last_commit": {"id": head},
        },
    }
    return body, {
        "X-Gitlab-Event": "Merge Request Hook",
        "X-Gitlab-Event-UUID": sha(f"gl-{action}"),
    }


def _bitbucket(event: str, head: str) -> tuple[dict[str, Any], dict[str, str]]:
    body = {
        "repository": {"full_name": "acme/mobile-app", "name": "mobile-app"},
        "actor": {"display_name": "Jane Doe"},
        "pullrequest": {
            "id": 7,
            "title": "MOB-5 Upload builds to the store",
            "state": "OPEN",
            "author": {"display_name": "Jane Doe"},
            "source": {"branch": {"name": "mob-5-upload"}, "commit": {"hash": head[:12]}},
            "destination": {"branch": {"name": "main"}, "commit": {"hash": sha("mob")[:12]}},
            "links": {"html": {"href": "https://bitbucket.org/acme/mobile-app/pull-requests/7"}},
        },
    }
    return body, {"X-Event-Key": event, "X-Request-UUID": sha(f"bb-{event}")}


def _azure(event: str, head: str) -> tuple[dict[str, Any], dict[str, str]]:
    body = {
        "id": sha(f"az-{event}")[:32],
        "eventType": event,
        "resource": {
            "pullRequestId": 42,
            "status": "active",
            "title": "WEB-8 Deploy step signs in to the registry",
            "sourceRefName": "refs/heads/web-8-registry",
            "targetRefName": "refs/heads/main",
            "createdBy": {"displayName": "Ravi Patel"},
            "repository": {
                "name": "storefront",
                "remoteUrl": "https://dev.azure.com/fabrikam/Retail/_git/storefront",
            },
            "lastMergeSourceCommit": {"commitId": head},
            "_links": {
                "web": {
                    "href": "https://dev.azure.com/fabrikam/Retail/_git/storefront/pullrequest/42"
                }
            },
        },
    }
    return body, {}


# (name prefix, source, repository path, number, webhook builder, opened, updated)
SCMS = [
    ("1050-github-pr-12", "github", "acme-inc/payments", 12, _github, "opened", "synchronize"),
    ("1051-gitlab-mr-31", "gitlab", "platform/infra-tools", 31, _gitlab, "open", "update"),
    (
        "1052-bitbucket-pr-7",
        "bitbucket",
        "acme/mobile-app",
        7,
        _bitbucket,
        "pullrequest:created",
        "pullrequest:updated",
    ),
    (
        "1053-azure-repos-pr-42",
        "azure-devops",
        "fabrikam/Retail/storefront",
        42,
        _azure,
        "git.pullrequest.created",
        "git.pullrequest.updated",
    ),
]


def write(out: Path) -> int:
    """Writes each SCM's leaking and fixing webhooks with their NAME.pr.json; how many."""
    count = 0
    for prefix, source, repo, number, webhook, opened, updated in SCMS:
        secret = token("ghp_" if source in ("github", "bitbucket") else "npm_")
        for step, action, text in (("a-leak", opened, leaking(secret)), ("b-fix", updated, FIXED)):
            head = sha(f"{prefix}-{step}")
            body, headers = webhook(action, head)
            name = f"{prefix}-{step}"
            state = {"source": source, "repository": repo, "number": number, "head": head}
            state["files"] = {PATH: [BEFORE, text]}
            (out / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
            (out / f"{name}.headers.json").write_text(json.dumps(headers, indent=2) + "\n")
            (out / f"{name}.pr.json").write_text(json.dumps(state, indent=2) + "\n")
            count += 1
    return count
