"""The PR secret-scan gate, on any SCM of the surface: scan the PR's added lines, then
report on the PR itself.

* The PR is read as the SCM has it *now* (its current head and diff), not as the event
  describes it, so events that arrive late, twice or out of order all converge on the
  same verdict for the same head.
* The check ``cievents/secret-scan`` on that head is ``failure`` while a finding stands
  or when the diff could not be read in full (fail closed), ``success`` when the head is
  clean. Branch protection / merge checks / branch policies require it by that name.
* One comment per PR (found again by its marker, edited in place). A clean PR that never
  had a finding gets no comment; one that had gets its comment edited to say it is clean.
* Everything written carries the redacted preview only, never the secret.

One PR is evaluated by one execution at a time (a lease in the idempotency store), so two
deliveries cannot both create the comment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cievents import clock
from cievents.errors import TransientError
from cievents.findings import FindingMessage
from cievents.idempotency import Store
from cievents.scanning import Finding, Scanner
from cievents.scm.base import Annotation, CheckReport, HeadInfo, Published, PullRequest
from cievents.scm.diff import AddedLines

__all__ = [
    "CHECK_NAME",
    "COMMENT_KEY",
    "SCANNED_ACTIONS",
    "PrFinding",
    "PrScan",
    "check_report",
    "is_open",
    "messages_of",
    "pr_lock",
    "publish",
    "render_comment",
    "scan_pull_request",
]

CHECK_NAME = "cievents/secret-scan"
COMMENT_KEY = "secret-scan"
SCANNED_ACTIONS = ("opened", "updated", "reopened")
_CLOSED = {"closed", "merged", "declined", "superseded", "completed", "abandoned", "locked"}


@dataclass(frozen=True)
class PrFinding:
    """A finding at its place in the new side of the PR's diff."""

    path: str
    line: int
    end_line: int
    finding: Finding

    @property
    def key(self) -> str:
        """Stable per secret and place: a moved line is a new annotation (the old resolved)."""
        return f"{self.finding.fingerprint[:16]}@{self.path}:{self.line}"


@dataclass
class PrScan:
    pr: PullRequest
    head: HeadInfo
    added: AddedLines
    findings: list[PrFinding] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "failure" if self.findings or self.added.truncated else "success"

    @property
    def summary(self) -> str:
        text = f"{len(self.findings)} finding(s) in {self.added.line_count} added line(s)"
        return text + (" (diff truncated: failing closed)" if self.added.truncated else "")


def is_open(head: HeadInfo) -> bool:
    return head.state.lower() not in _CLOSED


def scan_pull_request(client: Any, pr: PullRequest, scanner: Scanner, max_bytes: int) -> PrScan:
    """Read the PR's current head and added lines (at most ``max_bytes`` of diff) and scan
    each file's added lines; findings carry their line numbers in the new file."""
    head = client.pull_request(pr)
    added = client.added_lines(pr, head, max_bytes)
    found: list[PrFinding] = []
    for path, lines in added.files.items():
        text = "\n".join(t for _, t in lines)
        for f in scanner.scan_text(text, path=path):
            end = min(f.end_line, len(lines))
            found.append(PrFinding(path, lines[f.line - 1][0], lines[end - 1][0], f))
    return PrScan(pr, head, added, found)


def _cell(text: str) -> str:
    """Safe inside a Markdown table cell and an inline code span."""
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def render_comment(scan: PrScan) -> str:
    """The PR comment: what was found and where (redacted), or that the head is clean."""
    sha = scan.head.head_sha[:7]
    lines: list[str]
    if scan.findings:
        lines = [
            f"### {CHECK_NAME}: {len(scan.findings)} leaked credential(s) in this pull request",
            "",
            f"Found in the lines head `{sha}` adds. Rotate each credential first (removing it "
            "from the branch does not remove it from the history), then remove it and push.",
            "",
            "| Rule | Secret (redacted) | Where |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| `{_cell(p.finding.rule_id)}` | `{_cell(p.finding.secret)}` | "
            f"`{_cell(p.path)}` line {p.line} |"
            for p in scan.findings
        ]
    else:
        lines = [
            f"### {CHECK_NAME}: no leaked credentials",
            "",
            f"Head `{sha}` adds no credential. Credentials reported earlier on this pull request "
            "are still in its history: rotate them if that is not done yet.",
        ]
    if scan.added.truncated:
        lines += [
            "",
            "**The diff was not read in full**, so the check fails until it can be: "
            + "; ".join(scan.added.reasons)
            + ". Split the pull request, or scan the branch with `cievents scan`.",
        ]
    return "\n".join(lines)


def check_report(scan: PrScan, details_url: str | None) -> CheckReport:
    if scan.findings:
        title = f"{len(scan.findings)} leaked credential(s)"
    elif scan.added.truncated:
        title = "Diff not read in full: failing closed"
    else:
        title = "No leaked credentials"
    return CheckReport(
        CHECK_NAME,
        scan.state,
        title,
        summary=render_comment(scan),
        details_url=details_url,
        annotations=tuple(
            Annotation(
                p.path,
                p.line,
                f"{p.finding.description}: {p.finding.secret}",
                title=p.finding.rule_id,
                end_line=p.end_line,
                key=p.key,
            )
            for p in scan.findings
        ),
    )


def publish(client: Any, scan: PrScan, details_url: str | None) -> Published:
    """The check on the scanned head, then the one comment (created only when there is
    something to say)."""
    published: Published = client.publish_check(scan.pr, check_report(scan, details_url), scan.head)
    client.upsert_comment(
        scan.pr, COMMENT_KEY, render_comment(scan), create=scan.state != "success"
    )
    return published


def messages_of(scan: PrScan, source: str, branch: str | None) -> list[FindingMessage]:
    """One message per finding for the findings topic: redacted preview, file and line."""
    detected_at = clock.now_iso()
    return [
        FindingMessage.from_finding(
            p.finding,
            {
                "kind": "pr_diff",
                "path": p.path,
                "line": p.line,
                "end_line": p.end_line,
                "start_column": p.finding.start_column,
                "end_column": p.finding.end_column,
            },
            source=source,
            repository=scan.pr.repository.path,
            commit=scan.head.head_sha,
            branch=branch,
            pull_request=scan.pr.number,
            build_url=scan.pr.url,
            detected_at=detected_at,
        )
        for p in scan.findings
    ]


@contextmanager
def pr_lock(store: Store, pr: PullRequest, lease_s: float = 120) -> Iterator[None]:
    """One evaluation of a PR at a time; another one waits for a redelivery."""
    key = f"secret_scan:pr:{pr.repository.provider}:{pr.repository.path}#{pr.number}:lock"
    claim = store.claim(key, lease_s=lease_s)
    if claim.status != "claimed":
        raise TransientError(f"another execution is scanning {pr.repository.path}#{pr.number}")
    try:
        yield
    finally:
        store.release(key, claim.token)
