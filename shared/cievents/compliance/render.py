"""The compliance comment: one table a reviewer can act on (check, result, why, how to fix).

The text depends only on the verdict (no timestamps, no delivery ids), so the same state
always renders the same comment, and redelivered events find nothing to edit.
"""

from __future__ import annotations

from cievents.compliance.evaluate import CONTEXT, Verdict

__all__ = ["COMMENT_KEY", "LABELS", "comment"]

COMMENT_KEY = "compliance"
LABELS = {
    "branch_name": "Branch name",
    "jira_key": "Jira issue",
    "approvals": "Approvals",
    "reviewers": "Required reviewers",
    "status_checks": "Status checks",
    "no_merge_commits": "No merge commits",
    "max_files": "Files changed",
    "max_lines": "Lines changed",
    "description": "Description",
}


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split()) or " "


def comment(verdict: Verdict, merged: bool = False) -> str:
    icon = "✅" if verdict.passed else "❌"
    headline = (
        "every check passes"
        if verdict.passed
        else f"{len(verdict.failed)} of " f"{len(verdict.checks)} checks fail"
    )
    lines = [
        f"### {icon} Compliance: {headline}",
        "",
        f"Policy rule **{_cell(verdict.rule)}** on head `{verdict.head_sha[:12]}`. "
        f"The `{CONTEXT}` status is **{'success' if verdict.passed else 'failure'}**"
        + (" (recorded at merge)." if merged else "."),
        "",
        "| Check | Result | Why | How to fix |",
        "| --- | --- | --- | --- |",
    ]
    for check in verdict.checks:
        result = "✅ pass" if check.passed else "❌ fail"
        fix = "" if check.passed else check.fix
        lines.append(
            f"| {LABELS.get(check.name, check.name)} | {result} | {_cell(check.why)} | "
            f"{_cell(fix) if fix else '-'} |"
        )
    lines += ["", "_Updated in place on every change to the pull request, its reviews or checks._"]
    return "\n".join(lines)
