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
* **Bitbucket Pipelines** — a Code Insights report ``cievents-secret-scan`` on the
  pipeline's commit (``PUT .../commit/{hash}/reports/{id}``), one annotation per
  finding (``POST .../reports/{id}/annotations``, keyed by ``external_id``, so a
  redelivery replaces rather than adds);
* **GitHub Actions / GitLab CI** — through the SCM annotation surface
  (:mod:`cievents.scm`): a check run on the workflow's commit; an MR note (or a
  commit note) updated in place.

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
    "CONTEXT",
    "AzureWriteBack",
    "BitbucketWriteBack",
    "BuildkiteWriteBack",
    "WriteBack",
    "digest",
    "entry_of",
    "render_markdown",
]

CONTEXT = "cievents-secret-scan"
TITLE = "Leaked credentials in this build's logs"
AZURE_TAG = "secret-leak"


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


class BitbucketWriteBack:
    system = "bitbucket"

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def write(self, run: RunRef, entries: Sequence[Mapping[str, Any]]) -> str:
        if not run.commit:
            return "nothing (the pipeline's commit is unknown)"
        report = f"/repositories/{run.project}/commit/{run.commit}/reports/{CONTEXT}"
        self.http.put(
            report,
            json_body={
                "title": "cievents secret scan",
                "details": f"{len(entries)} credential(s) printed in the logs of pipeline "
                f"#{run.run_id}. Revoke them first, then remove the print.",
                "report_type": "SECURITY",
                "reporter": "cievents",
                "result": "FAILED",
                "link": run.url,
                "data": [{"title": "Leaked credentials", "type": "NUMBER", "value": len(entries)}],
            },
            what=f"bitbucket: report on {run.commit[:12]}",
        )
        annotations = [
            {
                "external_id": e["fingerprint"][:32],
                "annotation_type": "VULNERABILITY",
                "summary": f"Leaked {e['description']} {e['preview']} in step {e['job']} "
                f"line {e['line']}"[:450],
                "details": (e.get("advice") or {}).get("revoke", "revoke it")[:2000],
                "severity": "CRITICAL" if e["severity"] == "high" else "HIGH",
                "link": run.url,
            }
            for e in entries[:100]
        ]
        self.http.post(
            f"{report}/annotations",
            json_body=annotations,
            what=f"bitbucket: report annotations on {run.commit[:12]}",
        )
        return "code insights report"
