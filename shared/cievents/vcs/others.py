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
            credential="GITLAB_TOKEN",
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
        self.http.post(
            f"/projects/{quote(project, safe='')}/statuses/{sha}",
            json_body=body,
            what=f"gitlab: status {context} on {project}@{sha[:7]}",
        )
        return body

    def find_status(
        self, project: str, sha: str, state: str, description: str, context: str
    ) -> dict[str, Any] | None:
        """The latest status named ``context`` on the commit, when it is the one we would write."""
        if self.http.dry_run:
            return None
        answer = self.http.get(
            f"/projects/{quote(project, safe='')}/repository/commits/{sha}/statuses",
            params={"name": context, "per_page": 100},
            what=f"gitlab: statuses of {project}@{sha[:7]}",
        )
        items = [i for i in self.http.json(answer, "gitlab: statuses") or [] if isinstance(i, dict)]
        mine = sorted(
            (i for i in items if i.get("name") == context), key=lambda i: int(i.get("id") or 0)
        )
        if (
            mine
            and mine[-1].get("status") == GITLAB_STATES[state]
            and mine[-1].get("description") == (description[:255])
        ):
            return {"state": state, "context": context}
        return None


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
            credential="BITBUCKET_TOKEN or BITBUCKET_USERNAME + BITBUCKET_APP_PASSWORD",
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
        # Bitbucket overwrites the status with the same key: the POST is idempotent.
        self.http.post(
            f"/repositories/{repo}/commit/{sha}/statuses/build",
            json_body=body,
            what=f"bitbucket: status {context} on {repo}@{sha[:7]}",
            idempotent=True,
        )
        return body

    def find_status(
        self, repo: str, sha: str, state: str, description: str, context: str
    ) -> dict[str, Any] | None:
        """The status with our key on the commit, when it already says what we would write."""
        if self.http.dry_run:
            return None
        answer = self.http.get(
            f"/repositories/{repo}/commit/{sha}/statuses/build/{quote(context[:40], safe='')}",
            ok_statuses=(404,),
            what=f"bitbucket: status {context} on {repo}@{sha[:7]}",
        )
        if answer.status_code == 404:
            return None
        item = self.http.json(answer, "bitbucket: status")
        if (
            isinstance(item, dict)
            and item.get("state") == BITBUCKET_STATES[state]
            and item.get("description") == (description[:255])
        ):
            return {"state": state, "context": context}
        return None
