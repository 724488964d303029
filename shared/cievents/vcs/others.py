"""GitLab commit statuses and Bitbucket Cloud build statuses, for pipelines not on GitHub."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from cievents.http import HttpClient
from cievents.outbox import Outbox

GITLAB_STATES = {
    "pending": "pending",
    "running": "running",
    "success": "success",
    "failure": "failed",
    "error": "canceled",
    "neutral": "skipped",
}
BITBUCKET_STATES = {
    "pending": "INPROGRESS",
    "running": "INPROGRESS",
    "success": "SUCCESSFUL",
    "failure": "FAILED",
    "error": "STOPPED",
    "neutral": "STOPPED",
}


class GitLabClient:
    def __init__(self, *, api_url: str, token: str | None, outbox: Outbox | None = None) -> None:
        headers = {"PRIVATE-TOKEN": token} if token else {}
        self.http = HttpClient(
            sink="gitlab",
            base_url=api_url,
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda *_: {"id": 1},
        )

    def set_status(
        self,
        project: str,
        sha: str,
        state: str,
        target_url: str | None,
        description: str,
        context: str,
    ) -> Any:
        body = {"state": GITLAB_STATES[state], "name": context, "description": description[:255]}
        if target_url:
            body["target_url"] = target_url
        return self.http.post(
            f"/projects/{quote(project, safe='')}/statuses/{sha}",
            json_body=body,
            what=f"gitlab: status {context} on {project}@{sha[:7]}",
        ).json()


class BitbucketClient:
    def __init__(
        self,
        *,
        api_url: str,
        username: str | None,
        app_password: str | None,
        token: str | None,
        outbox: Outbox | None = None,
    ) -> None:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif username and app_password:
            encoded = base64.b64encode(f"{username}:{app_password}".encode()).decode()
            headers["Authorization"] = f"Basic {encoded}"
        self.http = HttpClient(
            sink="bitbucket",
            base_url=api_url,
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda *_: {"key": "x"},
        )

    def set_status(
        self,
        repo: str,
        sha: str,
        state: str,
        target_url: str | None,
        description: str,
        context: str,
    ) -> Any:
        body = {
            "key": context[:40],
            "name": context,
            "state": BITBUCKET_STATES[state],
            "url": target_url or "",
            "description": description[:255],
        }
        return self.http.post(
            f"/repositories/{repo}/commit/{sha}/statuses/build",
            json_body=body,
            what=f"bitbucket: status {context} on {repo}@{sha[:7]}",
        ).json()
