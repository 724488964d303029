"""GitHub: commit statuses and check runs, with a token or as a GitHub App.

App auth: a JWT (RS256, signed with the App's private key, valid 9 minutes)
is exchanged for an installation access token, cached until five minutes
before it expires. PyJWT is imported only when an App is configured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cievents.http import HttpClient
from cievents.outbox import Outbox

ANNOTATIONS_PER_REQUEST = 50
MAX_DESCRIPTION = 140


@dataclass(frozen=True)
class AppCredentials:
    app_id: str
    private_key: str
    installation_id: str


class GitHubClient:
    def __init__(
        self,
        *,
        api_url: str = "https://api.github.com",
        token: str | None = None,
        app: AppCredentials | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._token = token
        self._app = app
        self._lock = threading.Lock()
        self._installation_token: tuple[str, float] | None = None
        self.http = HttpClient(
            sink="github",
            credential="the GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, "
            "GITHUB_APP_INSTALLATION_ID)"
            if app
            else "GITHUB_TOKEN",
            base_url=api_url,
            headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
            outbox=outbox,
            dry_run_answer=lambda method, url, body: {"id": 1, "html_url": url},
        )

    @property
    def can_check_runs(self) -> bool:
        """Check runs need a GitHub App (or dry run, which records what it would do)."""
        return self._app is not None or self.http.dry_run

    def _auth(self) -> dict[str, str]:
        if self.http.dry_run:
            return {}
        if self._app is None:
            return {"Authorization": f"Bearer {self._token}"}
        return {"Authorization": f"Bearer {self.installation_token()}"}

    def app_jwt(self, now: float | None = None) -> str:
        import jwt

        assert self._app is not None
        issued = int(time.time() if now is None else now) - 60  # GitHub allows for clock drift
        payload = {"iat": issued, "exp": issued + 540, "iss": self._app.app_id}
        return str(jwt.encode(payload, self._app.private_key, algorithm="RS256"))

    def installation_token(self) -> str:
        assert self._app is not None
        with self._lock:
            cached = self._installation_token
            if cached and cached[1] - time.time() > 300:
                return cached[0]
            response = self.http.post(
                f"/app/installations/{self._app.installation_id}/access_tokens",
                headers={"Authorization": f"Bearer {self.app_jwt()}"},
                what="github: installation access token",
                idempotent=True,  # another token for the same installation is harmless
            )
            body = self.http.json(response, "github: installation access token")
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            self._installation_token = (str(body["token"]), expires.timestamp())
            return self._installation_token[0]

    def set_status(
        self,
        repo: str,
        sha: str,
        state: str,
        target_url: str | None,
        description: str,
        context: str,
    ) -> Any:
        body = {"state": state, "description": description[:MAX_DESCRIPTION], "context": context}
        if target_url:
            body["target_url"] = target_url
        self.http.post(
            f"/repos/{repo}/statuses/{sha}",
            json_body=body,
            headers=self._auth(),
            what=f"github: status {context} on {repo}@{sha[:7]}",
        )
        return body

    def find_status(
        self, repo: str, sha: str, state: str, description: str, context: str
    ) -> dict[str, Any] | None:
        """The latest status of ``context`` on the commit, when it is the one we would write."""
        if self.http.dry_run:
            return None
        answer = self.http.get(
            f"/repos/{repo}/commits/{sha}/statuses",
            headers=self._auth(),
            params={"per_page": 100},
            what=f"github: statuses of {repo}@{sha[:7]}",
        )
        for item in self.http.json(answer, "github: statuses") or []:
            if isinstance(item, dict) and item.get("context") == context:
                same = (
                    item.get("state") == state
                    and item.get("description") == (description[:MAX_DESCRIPTION])
                )
                return {"state": state, "context": context} if same else None
        return None

    def find_check_run(self, repo: str, sha: str, name: str, marker: str) -> int | None:
        """The id of the check run we created with ``external_id`` = ``marker``, if any."""
        if self.http.dry_run:
            return None
        answer = self.http.get(
            f"/repos/{repo}/commits/{sha}/check-runs",
            headers=self._auth(),
            params={"check_name": name, "filter": "all", "per_page": 100},
            what=f"github: check runs of {repo}@{sha[:7]}",
        )
        for run in (self.http.json(answer, "github: check runs") or {}).get("check_runs") or []:
            if isinstance(run, dict) and run.get("external_id") == marker:
                return int(run["id"])
        return None

    def upsert_check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        *,
        check_run_id: int | None,
        status: str,
        conclusion: str | None,
        details_url: str | None,
        title: str,
        summary: str,
        annotations: Sequence[dict[str, Any]] = (),
        external_id: str | None = None,
    ) -> int:
        """Create or update a check run; annotations are sent 50 per request, as GitHub requires.

        ``external_id`` is set on the created run so ``find_check_run`` can find it again
        when the answer to the create is lost."""
        chunks = [
            list(annotations[i : i + ANNOTATIONS_PER_REQUEST])
            for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
        ] or [[]]
        run_id = check_run_id
        for chunk in chunks:
            body: dict[str, Any] = {
                "name": name,
                "head_sha": sha,
                "status": status,
                "output": {"title": title, "summary": summary[:65535], "annotations": chunk},
            }
            if details_url:
                body["details_url"] = details_url
            if conclusion:
                body["conclusion"] = conclusion
            if run_id is None:
                if external_id:
                    body["external_id"] = external_id
                answer = self.http.post(
                    f"/repos/{repo}/check-runs",
                    json_body=body,
                    headers=self._auth(),
                    what=f"github: check run on {repo}",
                )
                run_id = int(self.http.json(answer, "github: check run")["id"])
            else:
                self.http.patch(
                    f"/repos/{repo}/check-runs/{run_id}",
                    json_body=body,
                    headers=self._auth(),
                    what=f"github: check run {run_id}",
                )
        assert run_id is not None
        return run_id

    def pull_request_diff(self, repo: str, number: int, max_bytes: int = 5 * 1024 * 1024) -> str:
        response = self.http.get(
            f"/repos/{repo}/pulls/{number}",
            headers={**self._auth(), "Accept": "application/vnd.github.diff"},
            what=f"github: diff of {repo}#{number}",
        )
        return str(response.text[:max_bytes])

    def upsert_comment(self, repo: str, number: int, marker: str, body: str) -> None:
        """One comment per PR, found again by an invisible marker and edited in place."""
        comments = self.http.get(
            f"/repos/{repo}/issues/{number}/comments",
            headers=self._auth(),
            params={"per_page": 100},
        ).json()
        existing = [
            c for c in comments or [] if isinstance(c, dict) and marker in str(c.get("body"))
        ]
        text = f"{body}\n\n{marker}"
        if existing:
            self.http.patch(
                f"/repos/{repo}/issues/comments/{existing[0]['id']}",
                json_body={"body": text},
                headers=self._auth(),
            )
        else:
            self.http.post(
                f"/repos/{repo}/issues/{number}/comments",
                json_body={"body": text},
                headers=self._auth(),
            )
