"""Scan one job's log: download (capped), scan, and the findings' job-log locations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cievents.cilogs.advice import Advice, advice_for
from cievents.cilogs.base import JobLog, JobRef, LogSource
from cievents.cilogs.normalize import masked_count, normalizer_for
from cievents.envelope import now_utc
from cievents.findings import FindingMessage
from cievents.scanning import Finding, Scanner

__all__ = ["JobScan", "location_of", "messages_of", "scan_job", "scan_log"]


@dataclass(frozen=True)
class JobScan:
    """What scanning one job found: distinct findings (one per fingerprint) and the log's size."""

    job: JobRef
    size: int
    findings: list[Finding] = field(default_factory=list)
    truncated: bool = False
    missing: str | None = None
    masked: int = 0  # values the CI itself masked in this log
    advice: dict[str, Advice] = field(default_factory=dict)  # by fingerprint


def location_of(finding: Finding, job: JobRef) -> dict[str, Any]:
    """Where a finding is, as the ``location`` of its message: the job and the line/columns
    in the job's original log text."""
    return {
        "kind": "job_log",
        "path": job.name or job.job_id,
        "line": finding.line,
        "end_line": finding.end_line,
        "start_column": finding.start_column,
        "end_column": finding.end_column,
    }


def scan_log(job_log: JobLog, scanner: Scanner, redacted: bool = True) -> JobScan:
    """Scan a downloaded log, cleaned the way its CI's format needs."""
    job, data = job_log.job, job_log.data
    system = job.run.system
    found = (
        scanner.scan_bytes(
            data, path=f"job {job.job_id} log", redacted=redacted, normalizer=normalizer_for(system)
        )
        if data
        else []
    )
    unique = list({f.fingerprint: f for f in found}.values())
    masked = masked_count(system, data)
    advice = {
        f.fingerprint: advice_for(
            system, f.rule_id, data[f.start : f.start + 8].decode("latin-1"), data, f.start, masked
        )
        for f in unique
    }
    return JobScan(job, len(data), unique, job_log.truncated, job_log.missing, masked, advice)


def scan_job(source: LogSource, job: JobRef, scanner: Scanner, redacted: bool = True) -> JobScan:
    """Download one job's log through its source and scan it."""
    return scan_log(source.log(job), scanner, redacted)


def messages_of(scan: JobScan) -> list[FindingMessage]:
    """One message per distinct finding of a job: the redacted preview, where it is, and the
    run it belongs to."""
    job, run = scan.job, scan.job.run
    detected_at = now_utc().isoformat().replace("+00:00", "Z")
    return [
        FindingMessage.from_finding(
            f,
            location_of(f, job),
            source=run.system,
            pipeline=run.pipeline,
            build_number=run.number,
            build_url=run.url,
            job_id=job.job_id,
            job_name=job.name,
            repository=run.repository,
            commit=run.commit,
            branch=run.branch,
            pull_request=run.pull_request,
            detected_at=detected_at,
            advice=scan.advice[f.fingerprint].to_dict() if f.fingerprint in scan.advice else None,
        )
        for f in scan.findings
    ]
