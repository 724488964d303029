"""Pull / merge request webhooks of the four SCMs, from the vendors' own payloads in
``tests/fixtures/vendor``, pointed at a repository, PR number and head, and wrapped as
ingest publishes them (the raw body, with ingest's attributes) in a Pub/Sub push body.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from cievents.webhooks.attributes import attributes_for
from tests.conftest import VENDOR

__all__ = ["pr_webhook", "push_of"]


def _load(source: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VENDOR / source / name).read_text("utf-8"))
    return copy.deepcopy(loaded)


def pr_webhook(
    source: str, action: str, repo: str, number: int, head: str, delivery: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """(body, headers) of a PR ``action`` (opened | updated | reopened | merged) webhook."""
    if source == "github":
        body = _load("github", "pull_request.synchronize.json")
        body["action"] = {"updated": "synchronize"}.get(action, action)
        body["repository"]["full_name"] = repo
        body["pull_request"].update(number=number, state="open")
        body["pull_request"]["head"]["sha"] = head
        body["number"] = number
        return body, {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery}
    if source == "gitlab":
        body = _load("gitlab", "merge_request.open.json")
        attrs = body["object_attributes"]
        attrs.update(
            iid=number,
            action={"opened": "open", "updated": "update", "reopened": "reopen"}[action],
            state="opened",
        )
        attrs["last_commit"]["id"] = head
        body["project"]["path_with_namespace"] = repo
        return body, {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": delivery}
    if source == "bitbucket":
        name = "pullrequest.created.json" if action == "opened" else "pullrequest.updated.json"
        body = _load("bitbucket", name)
        body["repository"]["full_name"] = repo
        body["pullrequest"].update(id=number, state="OPEN")
        body["pullrequest"]["source"]["commit"]["hash"] = head[:12]
        key = "pullrequest:created" if action == "opened" else "pullrequest:updated"
        return body, {"X-Event-Key": key, "X-Request-UUID": delivery}
    if source == "azure-devops":
        kind = "created" if action == "opened" else "updated"
        body = _load("azure-devops", f"git.pullrequest.{kind}.json")
        org, project, name = repo.split("/")
        resource = body["resource"]
        resource.update(pullRequestId=number, status="active")
        resource["repository"]["remoteUrl"] = f"https://dev.azure.com/{org}/{project}/_git/{name}"
        resource["lastMergeSourceCommit"]["commitId"] = head
        body["id"] = delivery
        return body, {}
    raise ValueError(source)


def push_of(source: str, body: dict[str, Any], headers: dict[str, str], message_id: str) -> Any:
    """The push request body Pub/Sub sends a function for this webhook, as ingest published it."""
    raw = json.dumps(body).encode()
    lowered = {k.lower(): v for k, v in headers.items()}
    return {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "messageId": message_id,
            "attributes": attributes_for(source, lowered, body, raw),
        },
        "subscription": "projects/p/subscriptions/secret-scan",
    }
