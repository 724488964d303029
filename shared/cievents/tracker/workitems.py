"""Work-item trackers for findings: Jira (the ``jira`` client) and Azure Boards (REST).

Both do the same four things: find the open item for a fingerprint label/tag
(bounded pagination, with a warning when the page limit is hit), create one,
comment on it, and reopen it. Items carry the label ``cievents-<fp16>`` (the
first 16 hex digits of the keyed fingerprint) so they can be found again and
so status changes can be traced back to the finding. Nothing here ever sees a
raw secret: only the redacted preview and the fingerprint.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

from cievents import log
from cievents.findings import FindingMessage
from cievents.http import HttpClient
from cievents.outbox import Outbox
from cievents.tracker.jira import JiraSettings, classify, make_client

PRIORITY = {"high": "High", "medium": "Medium", "low": "Low"}


def label(fingerprint: str) -> str:
    return f"cievents-{fingerprint[:16]}"


# The kind label each item carries beside its fingerprint label.
KIND_LABELS = ("cievents-secret", "cievents-posture")


def kind_label(finding: FindingMessage) -> str:
    """``cievents-posture`` for a repository setting (``family`` posture), else the secret's."""
    return KIND_LABELS[1] if finding.family == "posture" else KIND_LABELS[0]


def title(finding: FindingMessage) -> str:
    if finding.family == "posture":
        where = finding.location.get("path") or finding.repository or ""
        return f"Repository posture: {finding.rule_id} in {where}".strip()[:250]
    where = (
        f"{finding.pipeline} #{finding.build_number}"
        if finding.pipeline
        else (finding.repository or "")
    )
    return f"Leaked credential: {finding.rule_id} in {where}".strip()[:250]


# How vendors spell their own names (a rule family is a lower-case slug); the rest are
# capitalized ("stripe" -> "Stripe").
FAMILY_NAMES = {
    "1password": "1Password",
    "aws": "AWS",
    "gcp": "Google Cloud",
    "github": "GitHub",
    "gitlab": "GitLab",
    "npm": "npm",
    "pypi": "PyPI",
    "rubygems": "RubyGems",
    "cratesio": "crates.io",
    "nuget": "NuGet",
    "dockerhub": "Docker Hub",
    "digitalocean": "DigitalOcean",
    "circleci": "CircleCI",
    "newrelic": "New Relic",
    "huggingface": "Hugging Face",
    "openai": "OpenAI",
    "openrouter": "OpenRouter",
    "xai": "xAI",
    "jfrog": "JFrog",
    "hubspot": "HubSpot",
    "planetscale": "PlanetScale",
    "langsmith": "LangSmith",
    "sendgrid": "SendGrid",
    "flyio": "Fly.io",
    "google-chat": "Google Chat",
    "jwt": "JWT",
    "teams": "Microsoft Teams",
    "private-key": "private-key",
    "url-credentials": "URL",
    "assignment": "generic",
    "bearer": "bearer",
}


def family_name(family: str) -> str:
    """A rule family as its vendor writes it: "aws" -> "AWS", "github" -> "GitHub"."""
    return FAMILY_NAMES.get(family) or family.replace("-", " ").title()


def description(finding: FindingMessage) -> str:
    loc = finding.location
    if finding.family == "posture":
        return _posture_description(finding)
    lines = [
        f"Leaked {family_name(finding.family)} credential found ({finding.rule_id}, "
        f"severity {finding.severity}, confidence {finding.confidence}).",
        f"Preview (redacted): {finding.preview}",
        f"Where: {loc.get('kind')} {loc.get('path')} line {loc.get('line')}",
        f"Build: {finding.build_url or '-'}",
        f"Fingerprint: {finding.fingerprint}",
        "Rotate the credential first, then remove it from the source of the leak.",
    ]
    advice = finding.advice or {}
    if advice.get("revoke"):
        link = f" ({advice['link']})" if advice.get("link") else ""
        lines.append(f"Revoke: {advice['revoke']}{link}")
    if advice.get("masking_note"):
        lines.append(f"CI masking: {advice['masking_note']}")
    return "\n".join(lines)


def _posture_description(finding: FindingMessage) -> str:
    loc, advice = finding.location, finding.advice or {}
    setting = loc.get("setting") or {}
    lines = [
        f"{finding.preview} ({finding.rule_id}, severity {finding.severity}).",
        f"Where: {loc.get('kind')} {loc.get('path')}"
        + (f" ({loc['subject']})" if loc.get("subject") else "")
        + (f" on {loc.get('scm')}" if loc.get("scm") else ""),
        f"Repository: {finding.repository or '-'}",
    ]
    if setting:
        lines.append("Setting now: " + ", ".join(f"{k}={v}" for k, v in setting.items()))
    if advice.get("fix"):
        lines.append(f"Fix: {advice['fix']}")
    lines.append(f"Fingerprint: {finding.fingerprint}")
    return "\n".join(lines)


class Tracker(Protocol):
    name: str

    def find_open(self, fingerprint: str) -> str | None: ...

    def create(self, finding: FindingMessage) -> str: ...

    def comment(self, item: str, text: str) -> None: ...

    def reopen(self, item: str) -> None: ...

    def resolve(self, item: str) -> None: ...


@dataclass
class JiraTracker:
    settings: JiraSettings
    project: str
    issue_type: str
    reopen_transition: str
    max_pages: int
    outbox: Outbox | None = None
    name: str = "jira"
    _client: Any = None
    done_transition: str = "Done"

    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def _record(self, method: str, path: str, body: Any) -> None:
        assert self.outbox is not None
        self.outbox.record(
            "jira", method, f"{self.settings.url or 'https://jira.invalid'}{path}", body
        )

    def find_open(self, fingerprint: str) -> str | None:
        if self.outbox is not None:
            return None
        jql = f'labels = "{label(fingerprint)}" AND statusCategory != Done ORDER BY created ASC'
        token = None
        for page in range(self.max_pages):
            try:
                result = self.client().enhanced_search_issues(
                    jql, nextPageToken=token, maxResults=50, fields="key", json_result=True
                )
            except Exception as exc:
                raise classify(exc, "jira: search") from None
            issues = result.get("issues") or []
            if issues:
                return str(issues[0]["key"])
            token = result.get("nextPageToken")
            if not token:
                return None
            if page == self.max_pages - 1:
                log.logger.warning(
                    "search page limit reached", tracker="jira", pages=self.max_pages
                )
        return None

    def create(self, finding: FindingMessage) -> str:
        fields = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": title(finding),
            "description": description(finding),
            "labels": [kind_label(finding), label(finding.fingerprint)],
            "priority": {"name": PRIORITY.get(finding.severity, "Medium")},
        }
        if self.outbox is not None:
            self._record("POST", "/rest/api/2/issue", {"fields": fields})
            return f"{self.project}-DRYRUN"
        try:
            return str(self.client().create_issue(fields=fields).key)
        except Exception as exc:
            raise classify(exc, "jira: create issue") from None

    def comment(self, item: str, text: str) -> None:
        if self.outbox is not None:
            self._record("POST", f"/rest/api/2/issue/{item}/comment", {"body": text})
            return
        try:
            self.client().add_comment(item, text)
        except Exception as exc:
            raise classify(exc, f"jira: comment on {item}") from None

    def reopen(self, item: str) -> None:
        self._transition(item, self.reopen_transition, "reopen")

    def resolve(self, item: str) -> None:
        self._transition(item, self.done_transition, "resolve")

    def _transition(self, item: str, name: str, why: str) -> None:
        if self.outbox is not None:
            self._record(
                "POST",
                f"/rest/api/2/issue/{item}/transitions",
                {"transition": {"name": name}},
            )
            return
        try:
            available = self.client().transitions(item)
            match = next(
                (t for t in available if str(t.get("name", "")).lower() == name.lower()),
                None,
            )
            if match is None:
                log.logger.warning(f"{why} transition not available", issue=item, transition=name)
                return
            self.client().transition_issue(item, match["id"])
        except Exception as exc:
            raise classify(exc, f"jira: {why} {item}") from None


class AzureBoardsTracker:
    """Azure Boards through its REST API: WIQL to find, JSON Patch to create and update."""

    name = "azure-devops"

    def __init__(
        self,
        org_url: str,
        project: str,
        pat: str | None,
        work_item_type: str,
        max_pages: int,
        outbox: Outbox | None = None,
        done_state: str = "Done",
    ) -> None:
        self.done_state = done_state
        headers = (
            {"Authorization": "Basic " + base64.b64encode(f":{pat}".encode()).decode()}
            if pat
            else {}
        )
        self.project = project
        self.work_item_type = work_item_type
        self.max_pages = max_pages
        self.http = HttpClient(
            sink="azure-devops",
            credential="AZURE_DEVOPS_PAT",
            base_url=f"{org_url.rstrip('/')}/{project}",
            headers=headers,
            outbox=outbox,
            dry_run_answer=lambda *_: {"id": 0, "workItems": []},
        )
        self.params = {"api-version": "7.1"}

    def find_open(self, fingerprint: str) -> str | None:
        # The tag is "cievents-" and 16 hex digits of our own fingerprint: nothing to inject.
        query = (
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "  # noqa: S608
            f"AND [System.Tags] CONTAINS '{label(fingerprint)}' "
            "AND [System.State] NOT IN ('Closed', 'Done', 'Removed') ORDER BY [System.Id]"
        )
        answer = self.http.post(
            "/_apis/wit/wiql",
            json_body={"query": query},
            params={**self.params, "$top": 50 * self.max_pages},
            idempotent=True,  # a WIQL query reads
        ).json()
        items = answer.get("workItems") or []
        return str(items[0]["id"]) if items else None

    def create(self, finding: FindingMessage) -> str:
        patch = [
            {"op": "add", "path": "/fields/System.Title", "value": title(finding)},
            {
                "op": "add",
                "path": "/fields/System.Description",
                "value": description(finding).replace("\n", "<br>"),
            },
            {
                "op": "add",
                "path": "/fields/System.Tags",
                "value": f"{kind_label(finding)}; {label(finding.fingerprint)}",
            },
            {
                "op": "add",
                "path": "/fields/Microsoft.VSTS.Common.Priority",
                "value": {"high": 1, "medium": 2, "low": 3}.get(finding.severity, 2),
            },
        ]
        answer = self.http.post(
            f"/_apis/wit/workitems/${self.work_item_type}",
            json_body=patch,
            params=self.params,
            headers={"Content-Type": "application/json-patch+json"},
        ).json()
        return str(answer.get("id"))

    def comment(self, item: str, text: str) -> None:
        self.http.post(
            f"/_apis/wit/workItems/{item}/comments",
            json_body={"text": text},
            params={"api-version": "7.1-preview.4"},
        )

    def reopen(self, item: str) -> None:
        self._state(item, "Active")

    def resolve(self, item: str) -> None:
        self._state(item, self.done_state)

    def _state(self, item: str, state: str) -> None:
        self.http.patch(
            f"/_apis/wit/workitems/{item}",
            json_body=[{"op": "add", "path": "/fields/System.State", "value": state}],
            params=self.params,
            headers={"Content-Type": "application/json-patch+json"},
        )
