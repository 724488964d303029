"""CI job logs: one interface over every CI system's API (list a finished run's jobs,
stream one job's log with a size cap), and the scan of a job's log.

    from cievents.cilogs import BuildkiteLogs, scan_job
    source = BuildkiteLogs(token=..., api_url=...)
    for job in source.jobs(run):
        result = scan_job(source, job, scanner)
"""

from cievents.cilogs.base import JobLog, JobRef, LogSource, RunRef
from cievents.cilogs.buildkite import BuildkiteLogs
from cievents.cilogs.scan import JobScan, scan_job

__all__ = ["BuildkiteLogs", "JobLog", "JobRef", "JobScan", "LogSource", "RunRef", "scan_job"]
