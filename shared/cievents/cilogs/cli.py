"""``cievents scan --ci buildkite|github|gitlab|azure|bitbucket URL``: one job's or run's logs,
scanned from a laptop as secret_scan would (same log sources, caps and CI-format cleaning).

URL is what the browser shows:

* Buildkite ``https://buildkite.com/ORG/PIPELINE/builds/N`` (a job: ``#JOB_ID`` or ``?jid=JOB_ID``)
* GitHub ``https://github.com/OWNER/REPO/actions/runs/RUN`` (a job: ``.../job/JOB``)
* GitLab ``https://gitlab.com/GROUP/PROJECT/-/pipelines/ID`` or ``.../-/jobs/ID``
* Azure ``https://dev.azure.com/ORG/PROJECT/_build/results?buildId=ID`` (a task: ``&t=RECORD``)
* Bitbucket ``https://bitbucket.org/WORKSPACE/REPO/pipelines/results/N`` (a step:
  ``.../steps/{UUID}``)

Tokens and API URLs come from the environment, named as the function's settings
(``BUILDKITE_API_TOKEN``, ``GITHUB_TOKEN``, ``GITLAB_TOKEN``, ``AZURE_DEVOPS_PAT``,
``BITBUCKET_TOKEN``…). A self-hosted GitLab's or GitHub Enterprise's API URL is taken from
the URL's host when ``GITLAB_API_URL``/``GITHUB_API_URL`` is not set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from urllib.parse import parse_qs, unquote, urlsplit

from cievents.cilogs.base import JobRef, RunRef
from cievents.cilogs.scan import JobScan, scan_job
from cievents.cilogs.targets import SYSTEMS
from cievents.errors import CIEventsError

__all__ = ["SYSTEMS", "parse_url", "run_ci"]


# system → (the web URL's path, what a user should give)
URLS: dict[str, tuple[re.Pattern[str], str]] = {
    "buildkite": (
        re.compile(r"^/(?P<project>[^/]+/[^/]+)/builds/(?P<run>\d+)(?:/jobs/(?P<job>[^/]+))?"),
        "https://buildkite.com/ORG/PIPELINE/builds/N[#JOB]",
    ),
    "github": (
        re.compile(
            r"^/(?P<project>[^/]+/[^/]+)/actions/runs/(?P<run>\d+)(?:/attempts/\d+)?"
            r"(?:/job/(?P<job>\d+))?"
        ),
        "https://github.com/OWNER/REPO/actions/runs/RUN[/job/JOB]",
    ),
    "gitlab": (
        re.compile(r"^/(?P<project>.+?)/-/(?:pipelines/(?P<run>\d+)|jobs/(?P<job>\d+))"),
        "https://gitlab.com/GROUP/PROJECT/-/pipelines/ID (or /-/jobs/ID)",
    ),
    "azure": (
        re.compile(r"^(?P<project>/[^/]+/[^/]+)/_build/results$"),
        "https://dev.azure.com/ORG/PROJECT/_build/results?buildId=ID[&t=TASK]",
    ),
    "bitbucket": (
        re.compile(
            r"^/(?P<project>[^/]+/[^/]+)/pipelines/results/(?P<run>\d+)(?:/steps/(?P<job>[^/]+))?"
        ),
        "https://bitbucket.org/WORKSPACE/REPO/pipelines/results/N[/steps/{UUID}]",
    ),
}


def parse_url(system: str, url: str) -> tuple[RunRef, str | None]:
    """(the run, the job id when the URL names one job) of a CI web URL."""
    if system not in URLS:
        raise ValueError(f"--ci: one of {', '.join(SYSTEMS)}, not {system!r}")
    pattern, expected = URLS[system]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    match = pattern.match(unquote(parts.path).rstrip("/"))
    run_id = query.get("buildId", "") if system == "azure" else (match and match["run"]) or ""
    if not match or (system == "azure" and not run_id.isdigit()):
        raise ValueError(f"--ci {system}: {url!r} is not a {system} URL; expected {expected}")
    job = (
        query.get("t")
        if system == "azure"
        else match["job"] or (parts.fragment or query.get("jid") if system == "buildkite" else None)
    )
    number = int(run_id) if run_id.isdigit() else None
    return RunRef(system=system, project=match["project"], run_id=run_id, number=number, url=url), (
        job or None
    )


def _environment(system: str, url: str) -> dict[str, str]:
    """The function's settings from the environment; a self-hosted API from the URL's host."""
    env = dict(os.environ)
    parts = urlsplit(url)
    if system == "gitlab" and "GITLAB_API_URL" not in env and parts.hostname != "gitlab.com":
        env["GITLAB_API_URL"] = f"{parts.scheme}://{parts.netloc}/api/v4"
    if system == "github" and "GITHUB_API_URL" not in env and parts.hostname != "github.com":
        env["GITHUB_API_URL"] = f"{parts.scheme}://{parts.netloc}/api/v3"
    if system == "azure" and "AZURE_DEVOPS_API_URL" not in env:
        env["AZURE_DEVOPS_API_URL"] = f"{parts.scheme}://{parts.netloc}"
    return env


def run_ci(args: argparse.Namespace) -> int:
    """Scan the logs a CI URL names; exit 1 with findings, 0 without, 2 on error."""
    from cievents.cilogs.service import sources_from_env
    from cievents.scanning import Scanner
    from cievents.scanning.sarif import to_sarif

    if len(args.paths) != 1:
        print("cievents scan --ci: give exactly one URL", file=sys.stderr)
        return 2
    url = args.paths[0]
    try:
        run, job_id = parse_url(args.ci, url)
        source = sources_from_env(_environment(args.ci, url))[args.ci]
        jobs = (
            [j for j in source.jobs(run) if job_id is None or j.job_id == job_id]
            if run.run_id
            else []
        )
        if job_id and not jobs:
            jobs = [JobRef(run=run, job_id=job_id, name=job_id)]
        scanner = Scanner(engine=args.engine)
        scans = [scan_job(source, job, scanner, redacted=not args.no_redact) for job in jobs]
    except (CIEventsError, ValueError) as exc:
        print(f"cievents scan --ci {args.ci}: {exc}", file=sys.stderr)
        return 2
    findings = [f for s in scans for f in s.findings]
    if args.format == "json":
        out = [
            {
                **f.to_dict(),
                "job": s.job.name,
                "job_id": s.job.job_id,
                "advice": s.advice[f.fingerprint].to_dict(),
            }
            for s in scans
            for f in s.findings
        ]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    elif args.format == "sarif":
        sys.stdout.write(json.dumps(to_sarif(findings), indent=2) + "\n")
    else:
        for s in scans:
            _print(s)
        print(f"{len(findings)} finding(s) in {len(scans)} job log(s) of {url}", file=sys.stderr)
    return 1 if findings else 0


def _print(scan: JobScan) -> None:
    if scan.missing:
        print(f"{scan.job.name}: no log ({scan.missing})", file=sys.stderr)
    if scan.truncated:
        print(
            f"{scan.job.name}: log over SCAN_MAX_LOG_BYTES, scanned the first part", file=sys.stderr
        )
    for f in scan.findings:
        advice = scan.advice[f.fingerprint]
        print(f"{scan.job.name}:{f.line}:{f.start_column}: {f.rule_id} ({f.confidence}) {f.secret}")
        print(f"    revoke: {advice.revoke}" + (f" <{advice.link}>" if advice.link else ""))
        print(f"    masking ({advice.masking}): {advice.masking_note}")
