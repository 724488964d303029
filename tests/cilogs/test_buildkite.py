"""The Buildkite log source against a loopback Buildkite REST API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cievents.cilogs import BuildkiteLogs, JobRef, RunRef
from cievents.errors import RateLimitedError, RejectedError
from tests.conftest import CapturedLog
from tests.support.fakehttp import Reply
from tests.support.fakes.buildkite import FakeBuildkite, sample_jobs

RUN = RunRef(system="buildkite", project="acme-inc/web-app", run_id="42", number=42)


@pytest.fixture
def bk() -> Iterator[FakeBuildkite]:
    with FakeBuildkite() as fake:
        fake.add_build("acme-inc", "web-app", 42, jobs=sample_jobs())
        yield fake


def source(bk: FakeBuildkite, **kwargs: int) -> BuildkiteLogs:
    return BuildkiteLogs(token="bk-test-token", api_url=f"{bk.url}/v2", **kwargs)


def test_jobs_of_a_build_are_its_script_jobs_with_their_log_urls(bk: FakeBuildkite) -> None:
    jobs = source(bk).jobs(RUN)
    assert [(j.job_id, j.name, j.state) for j in jobs] == [
        ("job-a", "deploy", "failed"),
        ("job-b", "test", "passed"),
    ]
    assert jobs[0].log_url and jobs[0].log_url.endswith("/jobs/job-a/log.txt")


def test_more_jobs_than_the_bound_are_cut_with_a_warning(
    bk: FakeBuildkite, captured_log: CapturedLog
) -> None:
    jobs = source(bk, max_jobs=1).jobs(RUN)
    assert [j.job_id for j in jobs] == ["job-a"]
    assert any("SCAN_MAX_JOBS" in line["message"] for line in captured_log.lines)


def test_log_is_streamed_and_cut_at_the_cap(bk: FakeBuildkite, captured_log: CapturedLog) -> None:
    bk.logs["job-a"] = b"x" * 3000 + b"\n" + b"y" * 200_000
    job = source(bk).jobs(RUN)[0]
    small = source(bk, max_log_bytes=2048).log(job)
    assert small.data == b"x" * 2048 and small.truncated
    assert any("SCAN_MAX_LOG_BYTES" in line["message"] for line in captured_log.lines)
    whole = source(bk).log(job)
    assert len(whole.data) == 203_001 and not whole.truncated
    assert bk.calls("GET", ".*/log.txt")[-1].headers["accept"] == "text/plain"


def test_an_expired_log_is_missing_not_an_error(bk: FakeBuildkite) -> None:
    job = JobRef(run=RUN, job_id="gone", name="old job")
    result = source(bk).log(job)
    assert result.data == b"" and result.missing and "404" in result.missing


def test_rate_limit_is_waited_out_when_short_and_raised_when_long(bk: FakeBuildkite) -> None:
    bk.logs["job-a"] = b"hello\n"
    job = JobRef(run=RUN, job_id="job-a", name="deploy")
    bk.queue("GET", ".*/log.txt", Reply(429, {"message": "slow down"}, {"Retry-After": "0"}))
    assert source(bk).log(job).data == b"hello\n"
    bk.queue("GET", ".*/log.txt", Reply(429, {"message": "slow down"}, {"Retry-After": "600"}))
    with pytest.raises(RateLimitedError) as caught:
        source(bk).log(job)
    assert caught.value.retry_after == 600


def test_a_wrong_token_is_a_permanent_rejection(bk: FakeBuildkite) -> None:
    with pytest.raises(RejectedError):
        BuildkiteLogs(token="wrong", api_url=f"{bk.url}/v2").jobs(RUN)
