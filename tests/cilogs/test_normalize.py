"""Each CI's log format, cleaned before the rules run, with lines and columns pointing into the
log as the CI serves it; the CI's own masking markers are never findings."""

from __future__ import annotations

import pytest

from cievents.cilogs.base import JobLog, JobRef, RunRef
from cievents.cilogs.normalize import masked_count, normalizer_for
from cievents.cilogs.scan import scan_log
from cievents.scanning import Scanner
from tests.cilogs.logs import FILES, RULES, job_log
from tests.scanning.samples import pem

SCANNER = Scanner()
PREFIXES = {
    "github": "2026-11-30T14:02:21.9140012Z ",
    "azure": "2026-11-30T09:14:09.8881022Z ##[debug]",
    "gitlab": "\x1b[0K\x1b[32;1m",
    "buildkite": "\x1b_bk;t=1732960001000\x07",
    "bitbucket": "",
}


def scan(system: str, data: bytes) -> list[tuple[str, int, int]]:
    job = JobRef(run=RunRef(system=system, project="p", run_id="1"), job_id="j", name="n")
    return [
        (f.rule_id, f.line, f.start_column) for f in scan_log(JobLog(job, data), SCANNER).findings
    ]


@pytest.mark.parametrize("system", list(FILES))
def test_the_leak_is_found_at_its_place_in_the_original_log(system: str) -> None:
    data, secret = job_log(system)
    ((rule, line, column),) = scan(system, data)
    assert rule == RULES[system]
    original = data.split(b"\n")[line - 1].decode()
    assert original[column - 1 :].startswith(secret)  # columns count the CI's own prefixes


@pytest.mark.parametrize("system", list(PREFIXES))
def test_a_private_key_printed_line_by_line_through_the_ci_is_one_key(system: str) -> None:
    lines = ["step 1", *pem().split("\n"), "done"]
    data = "\n".join(PREFIXES[system] + line for line in lines).encode()
    assert scan(system, data) == [("private-key", 2, len(PREFIXES[system]) + 1)]


def test_gitlab_section_markers_are_removed_and_lines_kept() -> None:
    text = "section_start:1732975341:step_script[collapsed=true]\r\x1b[0KExecuting\n"
    clean = normalizer_for("gitlab")(text)
    assert clean.text == "Executing\n"
    assert clean.original(0) == text.index("Executing")


@pytest.mark.parametrize(
    ("system", "line"),
    [
        ("github", "2026-11-30T14:02:15.0021008Z   token: ***"),
        ("github", "2026-11-30T14:02:15.0021008Z AWS_SECRET_ACCESS_KEY=***"),
        ("azure", "2026-11-30T09:14:05.1102210Z az login -u *** --password=*** --tenant ***"),
        ("azure", "2026-11-30T09:14:05.1102210Z AccountKey=***;EndpointSuffix=core.windows.net"),
        ("gitlab", "registry password: [MASKED]"),
        ("gitlab", "DB_PASSWORD=[MASKED]"),
        ("buildkite", "\x1b_bk;t=1732960003100\x07DEPLOY_KEY=[REDACTED]"),
        (
            "bitbucket",
            "git clone https://x-token-auth:$REPOSITORY_OAUTH_ACCESS_TOKEN@bitbucket.org/a/b",
        ),
    ],
)
def test_what_the_ci_masked_is_not_a_finding(system: str, line: str) -> None:
    assert scan(system, line.encode() + b"\n") == []


def test_masked_values_are_counted_per_ci() -> None:
    assert masked_count("github", b"a: ***\nb: ***\n") == 2
    assert masked_count("gitlab", b"x [MASKED] y\n") == 1
    assert masked_count("bitbucket", b"$SECRET\n") == 0  # its marker is the variable's name
