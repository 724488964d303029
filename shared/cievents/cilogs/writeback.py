"""The finding where people look: written back to the build, redacted, one per build,
updated in place as more jobs of the build are scanned.

* **Buildkite** — a build annotation, ``style: error``, context ``cievents-secret-scan``
  (``POST .../builds/{number}/annotations``: an annotation with an existing context
  is replaced, so there is one per build);
* **Azure Pipelines** — the build tag ``secret-leak`` (``PUT .../builds/{id}/tags/{tag}``)
  and an error issue on each timeline record (task) that leaked (``PATCH
  .../distributedtask/hubs/build/plans/{planId}/timelines/{timelineId}/records``);
  the PAT needs *Build (read & execute)*; where the timeline refuses (403), the tag
  stands alone and the result says so;
* **GitHub Actions** — a check run ``cievents/secret-scan-logs`` on the workflow's
  commit, one annotation per finding (a commit status when the credentials are a
  token without an App: check runs need an App);
* **GitLab CI** — the MR note when the pipeline belongs to an MR, else a commit
  note (a commit discussion: plain commit comments cannot be edited), updated in
  place;
* **Bitbucket Pipelines** — a Code Insights report ``cievents-secret-scan-logs`` on
  the pipeline's commit with one annotation per finding (keyed by the fingerprint,
  so a redelivery replaces rather than adds) and a build status.

GitHub, GitLab and Bitbucket go through the SCM annotation surface (:mod:`cievents.scm`).

Entries are the redacted findings of the whole build (see :func:`entry_of`); no
secret is ever in them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from cievents.cilogs.base import JobRef, RunRef
from cievents.errors import RejectedError
from cievents.http import HttpClient
from cievents.scanning import Finding

__all__ = [
    "CHECK_NAME",
    "CONTEXT",
    "AzureWriteBack",
    "BuildkiteWriteBack",
    "GitLabNoteWriteBack",
    "ScmCheckWriteBack",
    "WriteBack",
    "digest",
    "entry_of",
    "render_markdown",
]

CONTEXT = "cievents-secret-scan"
CHECK_NAME = "cievents/secret-scan-logs"
MARKER_KEY = "secret-scan-logs"
TITLE = "Leaked credentials in this build's logs"
AZURE_TAG = "secret-leak"
DEFINITIONS = {"github": ".github/workflows", "bitbucket": "bitbucket-pipelines.yml"}


class WriteBack(Protocol):
    system: str

    def write(self, run: RunRef, entries: Sequence[Mapping[str, Any]]) -> str:
        """Write (or update) the build's one report; returns what was written."""
        ...


def entry_of(finding: Finding, job: JobRef, advice: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the write-back shows of one finding (redacted preview only)."""
    return {
        "fingerprint": finding.fingerprint,
        "rule_id": finding.rule_id,
        "description": finding.description,
        "severity": finding.severity,
        "preview": finding.secret,
        "job": job.name,
        "job_id": job.job_id,
        "job_url": job.url,
        "line": finding.line,
        "start_column": finding.start_column,
        "end_column": finding.end_column,
        "advice": dict(advice or {}),
        "record": job.job_id if job.run.system == "azure" else None,
        "timeline_id": job.extra.get("timeline_id"),
    }


def digest(entries: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(
        json.dumps(sorted(e["fingerprint"] for e in entries)).encode()
    ).hexdigest()


def _where(entry: Mapping[str, Any]) -> str:
    job = f"[{entry['job']}]({entry['job_url']})" if entry.get("job_url") else f"`{entry['job']}`"
    return f"{job} line {entry['line']}, column {entry['start_column']}"


def render_markdown(run: RunRef, entries: Sequence[Mapping[str, Any]]) -> str:
    """The report, in Markdown (Buildkite, GitHub, GitLab and Bitbucket all render it)."""
    lines = [
        f"### :rotating_light: {TITLE}",
        "",
        f"{len(entries)} credential(s) printed in job logs of this build. Revoke them first "
        "(the log may already have been read), then remove the print.",
        "",
    ]
    for e in entries:
        advice = e.get("advice") or {}
        link = f" — <{advice['link']}>" if advice.get("link") else ""
        lines += [
            f"- **{e['description']}** (`{e['rule_id']}`) `{e['preview']}` in {_where(e)}",
            f"  - revoke: {advice.get('revoke', 'rotate it where it was issued')}{link}",
            f"  - masking: {advice.get('masking_note', 'n/a')}",
        ]
    return "\n".join(lines) + "\n"


class BuildkiteWriteBack:
    system = "buildkite"

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def write(self, run: RunRef, entries: Sequence[Mapping[str, Any]]) -> str:
        organization, pipeline = run.project.split("/", 1)
        path = f"/organizations/{organization}/pipelines/{pipeline}/builds/{run.run_id}/annotations"
        self.http.post(
            path,
            json_body={
                "body": render_markdown(run, entries),
                "style": "error",
                "context": CONTEXT,
                "priority": 8,
            },
            what=f"buildkite: annotate build {run.project}#{run.run_id}",
        )
        return "annotation"


class AzureWriteBack:
    system = "azure"

    def __init__(self, http: HttpClient, api_version: str = "7.1") -> None:
        self.http = http
        self.api_version = api_version

    def write(self, run: RunRef, entries: Sequence[Mapping[str, Any]]) -> str:
        params = {"api-version": self.api_version}
        build = f"{run.project}/_apis/build/builds/{run.run_id}"
        self.http.put(
            f"{build}/tags/{quote(AZURE_TAG)}",
            params=params,
            what=f"azure-devops: tag build {run.run_id}",
        )
        plan = run.extra.get("plan_id") or next(
            (e.get("timeline_id") for e in entries if e.get("timeline_id")), None
        )
        timeline = next((e.get("timeline_id") for e in entries if e.get("timeline_id")), None)
        if not plan or not timeline:
            return "tag (no timeline id to attach issues to)"
        records: dict[str, list[dict[str, Any]]] = {}
        for e in entries:
            if e.get("record"):
                records.setdefault(str(e["record"]), []).append(
                    {
                        "type": "error",
                        "category": "General",
                        "message": f"cievents: leaked {e['description']} ({e['rule_id']}) "
                        f"{e['preview']} at line {e['line']}: "
                        f"{(e.get('advice') or {}).get('revoke', 'revoke it')}",
                        "data": {"type": "error", "logFileLineNumber": str(e["line"])},
                    }
                )
        value = [{"id": rid, "issues": issues} for rid, issues in records.items()]
        try:
            self.http.patch(
                f"{run.project}/_apis/distributedtask/hubs/build/plans/{plan}/timelines/"
                f"{timeline}/records",
                params=params,
                json_body={"value": value, "count": len(value)},
                what=f"azure-devops: timeline issues of build {run.run_id}",
            )
        except RejectedError as exc:
            if exc.status != 403:
                raise
            return "tag (the PAT may not write the timeline: issues not added)"
        return "tag + timeline issues"


def _annotation_message(e: Mapping[str, Any]) -> str:
    advice = e.get("advice") or {}
    return (
        f"{e['description']} {e['preview']} printed in job {e['job']}, log line {e['line']} "
        f"column {e['start_column']}. Revoke: {advice.get('revoke', 'rotate it')}"
        + (f" ({advice['link']})" if advice.get("link") else "")
        + f". Masking: {advice.get('masking_note', 'n/a')}"
    )


class ScmCheckWriteBack:
    """GitHub (check run with annotations, or a commit status without an App) and Bitbucket
    (Code Insights report with annotations and a build status), on the run's commit, through
    the SCM surface. The annotations sit on the file that defined the run (the workflow file,
    ``bitbucket-pipelines.yml``): a job log is not a file of the repository."""

    def __init__(self, system: str, client: Any, host: str) -> None:
        self.system = system
        self.client = client
        self.host = host

    def write(self, run: RunRef, entries: Sequence[Mapping[str, Any]]) -> str:
        from cievents.scm import Annotation, CheckReport, HeadInfo, PullRequest
        from cievents.vcs.repo import Repository

        if not run.commit:
            return "nothing (the run's commit is unknown)"
        definition = str(run.extra.get("definition") or DEFINITIONS.get(self.system, ""))
        report = CheckReport(
            CHECK_NAME,
            "failure",
            f"{len(entries)} credential(s) leaked in job logs",
            summary=render_markdown(run, entries),
            details_url=run.url,
            annotations=tuple(
                Annotation(
                    definition,
                    1,
                    _annotation_message(e),
                    title=f"{e['rule_id']} in {e['job']}",
                    key=str(e["fingerprint"])[:32],
                )
                for e in entries
            ),
        )
        repository = Repository(
            "github" if self.system == "github" else "bitbucket", self.host, run.project
        )
        pr = PullRequest(repository, run.pull_request or 0, head_sha=run.commit, url=run.url)
        published = self.client.publish_check(pr, report, HeadInfo(run.commit))
        kinds = " + ".join(k.replace("_", " ") for k in published.kinds)
        return f"{kinds} ({published.note})" if published.note else kinds


class GitLabNoteWriteBack:
    """GitLab: the MR note when the pipeline belongs to an MR, else a note on the commit (a
    commit discussion, since plain commit comments cannot be edited), updated in place and
    found again by its hidden marker."""

    system = "gitlab"

    def __init__(self, client: Any, host: str) -> None:
        self.client = client
        self.host = host

    def write(self, run: RunRef, entries: Sequence[Mapping[str, Any]]) -> str:
        from cievents.scm import PullRequest
        from cievents.scm.base import dict_list, link_next, paginate
        from cievents.scm.gitlab import project_id
        from cievents.vcs.repo import Repository

        body = render_markdown(run, entries)
        if run.pull_request:
            repository = Repository("gitlab", self.host, run.project)
            self.client.upsert_comment(PullRequest(repository, run.pull_request), MARKER_KEY, body)
            return f"merge request note on !{run.pull_request}"
        if not run.commit:
            return "nothing (the pipeline's commit is unknown)"
        marker = self.client.marker(MARKER_KEY)
        text = f"{body}\n\n{marker}"
        base = f"/projects/{project_id(run.project)}/repository/commits/{run.commit}/discussions"
        threads = (
            []
            if not self.client.can_read
            else paginate(
                self.client.api,
                base,
                params={"per_page": 100},
                items=dict_list(None),
                next_page=link_next,
                max_pages=self.client.max_pages,
                what=f"gitlab: discussions of {run.commit[:12]}",
            )
        )
        for thread in threads:
            notes = [n for n in thread.get("notes") or [] if isinstance(n, dict)]
            if notes and marker in str(notes[0].get("body")):
                if notes[0].get("body") != text:
                    self.client.http.put(
                        f"{base}/{thread['id']}/notes/{notes[0]['id']}",
                        json_body={"body": text},
                        what=f"gitlab: commit note on {run.commit[:12]}",
                    )
                return "commit note (updated)"
        self.client.http.post(
            base, json_body={"body": text}, what=f"gitlab: commit note on {run.commit[:12]}"
        )
        return "commit note"
