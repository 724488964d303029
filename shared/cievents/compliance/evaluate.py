"""A rule's checks against a pull request's current state → a verdict, each check with why and
how to fix it. Pure: everything the checks need is in the ``PullRequestState`` (and, for
``jira_key.verify``, a lookup the caller passes), so the same state always gives the same
verdict, whatever order the events came in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from cievents import jirakeys
from cievents.compliance.policy import Checks, Rule
from cievents.compliance.state import CONTEXT, Needs, PullRequestState, Review

__all__ = [
    "CONTEXT",
    "CheckOutcome",
    "Verdict",
    "evaluate",
    "needs_of",
    "valid_approvals",
]

# Jira lookup: True exists, False does not; raising a TransientError retries the message.
JiraLookup = Callable[[str], bool]
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
LISTED = 5


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    why: str
    fix: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "why": self.why, "fix": self.fix}


@dataclass(frozen=True)
class Verdict:
    rule: str
    head_sha: str
    checks: tuple[CheckOutcome, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def result(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def failed(self) -> tuple[CheckOutcome, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def digest(self) -> str:
        """Identifies the verdict: the same head and outcomes give the same digest."""
        data = [self.rule, self.head_sha, [c.to_dict() for c in self.checks]]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]

    def summary(self) -> str:
        if self.passed:
            return f"All {len(self.checks)} compliance checks pass"
        names = ", ".join(c.name for c in self.failed)
        return f"{len(self.failed)} of {len(self.checks)} checks fail: {names}"[:140]


def needs_of(checks: Checks) -> Needs:
    """What to fetch for these checks (nothing more: every call costs rate limit)."""
    reviewers = checks.reviewers
    return Needs(
        reviews=checks.approvals is not None or reviewers is not None,
        commits=checks.no_merge_commits
        or (checks.approvals is not None and checks.approvals.exclude_stale),
        files=checks.max_files is not None
        or checks.max_lines is not None
        or bool(reviewers and reviewers.code_owners),
        statuses=bool(checks.status_checks),
        groups=reviewers.groups if reviewers else (),
        code_owners=bool(reviewers and reviewers.code_owners),
    )


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _stale(review: Review, state: PullRequestState) -> bool:
    if review.commit:
        return review.commit != state.head_sha
    if review.submitted_at is not None and state.last_push_at is not None:
        return review.submitted_at < state.last_push_at
    return False


def valid_approvals(state: PullRequestState, exclude_stale: bool) -> list[str]:
    """Users (not the author) whose latest review approves, stale ones left out if asked."""
    return sorted(
        {
            r.user
            for r in state.reviews
            if r.state == "approved"
            and not state.is_author(r.user)
            and not (exclude_stale and _stale(r, state))
        },
        key=str.lower,
    )


def _branch_name(pattern: re.Pattern[str], state: PullRequestState) -> CheckOutcome:
    branch = state.source_branch
    if pattern.search(branch):
        return CheckOutcome("branch_name", True, f"`{branch}` matches `{pattern.pattern}`")
    return CheckOutcome(
        "branch_name",
        False,
        f"`{branch}` does not match `{pattern.pattern}`",
        f"push the change to a branch matching `{pattern.pattern}` and open the PR from it",
    )


def _jira_key(checks: Checks, state: PullRequestState, lookup: JiraLookup | None) -> CheckOutcome:
    spec = checks.jira_key
    assert spec is not None
    texts = [state.title if p == "title" else state.source_branch for p in spec.places]
    keys = jirakeys.extract(*texts, projects=spec.projects or None)
    where = " or ".join(spec.places)
    scope = f" of {', '.join(spec.projects)}" if spec.projects else ""
    if not keys:
        return CheckOutcome(
            "jira_key",
            False,
            f"no Jira key{scope} in the {where}",
            f"name the Jira issue (e.g. `{(spec.projects or ('PROJ',))[0]}-123`) in the {where}",
        )
    if not spec.verify:
        return CheckOutcome("jira_key", True, f"{_listed(list(keys))} named in the {where}")
    if lookup is None:
        return CheckOutcome(
            "jira_key",
            False,
            f"{keys[0]} cannot be verified: Jira is not configured",
            "set JIRA_URL and JIRA_EMAIL + JIRA_API_TOKEN (or JIRA_PAT) for pr_compliance",
        )
    found = [k for k in keys if lookup(k)]
    if found:
        return CheckOutcome("jira_key", True, f"{_listed(found)} exists in Jira")
    return CheckOutcome(
        "jira_key",
        False,
        f"{_listed(list(keys))} not found in Jira",
        "name an existing issue the bot account can browse",
    )


def _approvals(checks: Checks, state: PullRequestState) -> CheckOutcome:
    spec = checks.approvals
    assert spec is not None
    if "approvals" in state.unsupported:
        return CheckOutcome("approvals", False, state.unsupported["approvals"], "")
    valid = valid_approvals(state, spec.exclude_stale)
    all_approvals = valid_approvals(state, False)
    stale = [u for u in all_approvals if u not in valid]
    note = f" ({_listed(stale)}: given before the last push, not counted)" if stale else ""
    count = f"{len(valid)} of {spec.minimum} approval{'s' if spec.minimum != 1 else ''}"
    if len(valid) >= spec.minimum:
        return CheckOutcome("approvals", True, f"{count} by {_listed(valid)}{note}")
    by = f" ({_listed(valid)})" if valid else ""
    return CheckOutcome(
        "approvals",
        False,
        f"{count}{by} from reviewers other than the author{note}",
        f"ask {spec.minimum - len(valid)} more reviewer(s) to approve"
        + (" the latest push" if stale else ""),
    )


def _reviewers(checks: Checks, state: PullRequestState) -> CheckOutcome:
    spec = checks.reviewers
    assert spec is not None
    exclude_stale = bool(checks.approvals and checks.approvals.exclude_stale)
    approvers = valid_approvals(state, exclude_stale)
    approved = set().union(*(state.identities(u) for u in approvers)) if approvers else set()
    missing: list[str] = []
    problems: list[str] = []
    for user in spec.users:
        if user.lower() not in approved:
            missing.append(f"@{user}")
    for group in spec.groups:
        members = state.group_members.get(group)
        if members is None:
            problems.append(state.unsupported.get(f"group:{group}", f"members of {group} unknown"))
            missing.append(group)
        elif not {m.lower() for m in members} & approved:
            missing.append(group)
    if spec.code_owners:
        owners = state.code_owners
        if owners is None:
            problems.append(state.unsupported.get("code_owners", "code owners unknown"))
            missing.append("code owners")
        elif owners.satisfied is not None:
            if not owners.satisfied:
                missing.append(f"code owners ({owners.source})")
        else:
            for path, needed in sorted(owners.owners.items()):
                if not needed:
                    continue
                ok = False
                for owner in needed:
                    name = owner.lstrip("@")
                    members = state.group_members.get(name)
                    if name.lower() in approved or (
                        members is not None and {m.lower() for m in members} & approved
                    ):
                        ok = True
                        break
                if not ok:
                    missing.append(f"code owner of `{path}` ({' or '.join(needed)})")
    if not missing:
        return CheckOutcome("reviewers", True, "every required reviewer approved")
    why = f"no approval yet from {_listed(missing)}"
    if problems:
        why += f" ({'; '.join(dict.fromkeys(problems))})"
    return CheckOutcome("reviewers", False, why, f"ask {_listed(missing)} to review and approve")


def _status_checks(checks: Checks, state: PullRequestState) -> CheckOutcome:
    if "statuses" in state.unsupported:
        return CheckOutcome("status_checks", False, state.unsupported["statuses"], "")
    mine = [s for s in state.statuses if s.name != CONTEXT]
    short = state.head_sha[:7]
    failing: list[str] = []
    for pattern in checks.status_checks:
        matching = [s for s in mine if fnmatch.fnmatchcase(s.name, pattern)]
        if not matching:
            failing.append(f"`{pattern}` missing")
            continue
        bad = [s for s in matching if s.state not in ("success", "neutral")]
        failing += [f"`{s.name}` {s.state}" for s in bad]
    if not failing:
        return CheckOutcome(
            "status_checks", True, f"{_listed(list(checks.status_checks))} pass on {short}"
        )
    return CheckOutcome(
        "status_checks",
        False,
        f"{_listed(failing)} on {short}",
        "wait for the required checks to finish, or fix what fails and push",
    )


def _merge_commits(state: PullRequestState) -> CheckOutcome:
    if "commits" in state.unsupported:
        return CheckOutcome("no_merge_commits", False, state.unsupported["commits"], "")
    merges = [c.sha[:7] for c in state.commits if c.parents is not None and c.parents > 1]
    tail = " (first commits only: the list was cut at the page bound)" * state.commits_truncated
    if merges:
        return CheckOutcome(
            "no_merge_commits",
            False,
            f"merge commit(s) {_listed(merges)}{tail}",
            "rebase the branch onto the target instead of merging it in, then force-push",
        )
    return CheckOutcome(
        "no_merge_commits", True, f"{len(state.commits)} commit(s), none a merge{tail}"
    )


def _size(
    name: str, limit: int, value: int | None, unit: str, state: PullRequestState
) -> CheckOutcome:
    if value is None:
        why = state.unsupported.get("files", f"the number of {unit} changed is unknown")
        return CheckOutcome(name, False, why, "")
    if value <= limit:
        return CheckOutcome(name, True, f"{value} {unit} changed (at most {limit})")
    return CheckOutcome(
        name,
        False,
        f"{value} {unit} changed, over the limit of {limit}",
        "split the change into smaller pull requests",
    )


def _description(state: PullRequestState) -> CheckOutcome:
    text = _COMMENT.sub("", state.description or "").strip()
    if text:
        return CheckOutcome("description", True, f"{len(text)} characters")
    return CheckOutcome(
        "description",
        False,
        "the description is empty" + (" (only the template's comments)" * bool(state.description)),
        "say what the change does and why in the pull request description",
    )


def evaluate(rule: Rule, state: PullRequestState, jira: JiraLookup | None = None) -> Verdict:
    checks = rule.checks
    outcomes: list[CheckOutcome] = []
    for name in checks.enabled():
        if name == "branch_name":
            assert checks.branch_name is not None
            outcomes.append(_branch_name(checks.branch_name, state))
        elif name == "jira_key":
            outcomes.append(_jira_key(checks, state, jira))
        elif name == "approvals":
            outcomes.append(_approvals(checks, state))
        elif name == "reviewers":
            outcomes.append(_reviewers(checks, state))
        elif name == "status_checks":
            outcomes.append(_status_checks(checks, state))
        elif name == "no_merge_commits":
            outcomes.append(_merge_commits(state))
        elif name == "max_files":
            assert checks.max_files is not None
            outcomes.append(_size(name, checks.max_files, state.files_count, "files", state))
        elif name == "max_lines":
            assert checks.max_lines is not None
            outcomes.append(_size(name, checks.max_lines, state.lines_changed, "lines", state))
        elif name == "description":
            outcomes.append(_description(state))
    return Verdict(rule.name, state.head_sha, tuple(outcomes))
