"""Each check's verdict, why and fix, computed from a PR's state alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cievents.compliance import comment, evaluate, parse_policy
from cievents.compliance.evaluate import CONTEXT, needs_of
from cievents.compliance.state import (
    CodeOwners,
    Commit,
    PullRequestState,
    Review,
    StatusCheck,
)

HEAD = "a" * 40
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def rule(**checks: object):  # type: ignore[no-untyped-def]
    return parse_policy({"rules": [{"name": "r", "checks": checks}]}, {}).rules[0]


def state(**changes: object) -> PullRequestState:
    base = PullRequestState(
        scm="github",
        repository="acme/web",
        number=7,
        title="SHOP-412 checkout retries",
        description="Retries the payment call.",
        author="dana",
        source_branch="feature/SHOP-412-retries",
        target_branch="main",
        head_sha=HEAD,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def one(verdict):  # type: ignore[no-untyped-def]
    assert len(verdict.checks) == 1
    return verdict.checks[0]


def test_branch_name() -> None:
    r = rule(branch_name=r"^(feature|fix)/[A-Z]+-\d+-")
    assert one(evaluate(r, state())).passed
    bad = one(evaluate(r, state(source_branch="patch-1")))
    assert not bad.passed and "`patch-1` does not match" in bad.why and bad.fix


def test_jira_key_present_and_verified() -> None:
    assert one(evaluate(rule(jira_key=True), state())).passed
    missing = one(evaluate(rule(jira_key=True), state(title="fix", source_branch="fix-it")))
    assert not missing.passed and "no Jira key" in missing.why
    other_project = one(evaluate(rule(jira_key={"projects": ["OPS"]}), state()))
    assert not other_project.passed
    verified = rule(jira_key={"verify": True})
    assert one(evaluate(verified, state(), lambda key: key == "SHOP-412")).passed
    gone = one(evaluate(verified, state(), lambda key: False))
    assert not gone.passed and "not found in Jira" in gone.why
    unconfigured = one(evaluate(verified, state(), None))
    assert not unconfigured.passed and "JIRA_URL" in unconfigured.fix


def test_approvals_count_other_people_only() -> None:
    r = rule(approvals={"minimum": 1})
    none = one(evaluate(r, state()))
    assert not none.passed and "0 of 1 approval" in none.why
    self_approved = state(reviews=(Review("dana", "approved", commit=HEAD),))
    assert not one(evaluate(r, self_approved)).passed
    approved = state(reviews=(Review("erin", "approved", commit=HEAD),))
    assert one(evaluate(r, approved)).passed


def test_stale_approvals_are_not_counted_when_the_policy_says_so() -> None:
    stale = state(reviews=(Review("erin", "approved", commit="b" * 40),))
    assert one(evaluate(rule(approvals={"minimum": 1}), stale)).passed
    outcome = one(evaluate(rule(approvals={"minimum": 1, "exclude_stale": True}), stale))
    assert not outcome.passed and "before the last push" in outcome.why
    # SCMs without a commit on the review: its time against the last push.
    timed = state(
        reviews=(Review("erin", "approved", submitted_at=T0),),
        last_push_at=T0 + timedelta(minutes=5),
    )
    assert not one(evaluate(rule(approvals={"exclude_stale": True}), timed)).passed
    fresh = replace(timed, last_push_at=T0 - timedelta(minutes=5))
    assert one(evaluate(rule(approvals={"exclude_stale": True}), fresh)).passed


def test_required_users_groups_and_code_owners() -> None:
    r = rule(reviewers={"users": ["erin"], "groups": ["acme/security"], "code_owners": True})
    approved = state(
        reviews=(Review("erin", "approved"), Review("sam", "approved")),
        group_members={"acme/security": frozenset({"sam"}), "acme/payments": frozenset({"erin"})},
        code_owners=CodeOwners(owners={"pay/api.py": ("@acme/payments",), "README": ("@zed",)}),
    )
    outcome = one(evaluate(r, approved))
    assert not outcome.passed and "code owner of `README`" in outcome.why
    owners_ok = replace(
        approved, code_owners=CodeOwners(owners={"pay/api.py": ("@acme/payments",)})
    )
    assert one(evaluate(r, owners_ok)).passed
    unknown = replace(owners_ok, group_members={}, unsupported={"group:acme/security": "no API"})
    failed = one(evaluate(r, unknown))
    assert not failed.passed and "no API" in failed.why
    gitlab = replace(owners_ok, code_owners=CodeOwners(satisfied=False, source="rules"))
    assert not one(evaluate(r, gitlab)).passed


def test_status_checks_by_name_and_glob_on_the_head() -> None:
    r = rule(status_checks=["buildkite/*", "ci/lint"])
    statuses = (
        StatusCheck("buildkite/web", "success"),
        StatusCheck("ci/lint", "pending"),
        StatusCheck(CONTEXT, "failure"),
    )
    outcome = one(evaluate(r, state(statuses=statuses)))
    assert not outcome.passed and "`ci/lint` pending" in outcome.why
    done = state(
        statuses=(StatusCheck("buildkite/web", "success"), StatusCheck("ci/lint", "success"))
    )
    assert one(evaluate(r, done)).passed
    missing = one(evaluate(r, state(statuses=(StatusCheck("ci/lint", "success"),))))
    assert "`buildkite/*` missing" in missing.why
    # Our own status never satisfies (or blocks) a pattern that happens to match it.
    assert not one(evaluate(rule(status_checks=["cievents/*"]), state(statuses=statuses))).passed


def test_merge_commits_size_and_description() -> None:
    merges = state(commits=(Commit("c" * 40, 1), Commit("d" * 40, 2)))
    outcome = one(evaluate(rule(no_merge_commits=True), merges))
    assert not outcome.passed and "ddddddd" in outcome.why
    assert one(evaluate(rule(max_files=3), state(files_count=3))).passed
    assert not one(evaluate(rule(max_lines=10), state(lines_changed=11))).passed
    unknown = one(evaluate(rule(max_lines=10), state(unsupported={"files": "no line counts"})))
    assert not unknown.passed and unknown.why == "no line counts"
    template = one(evaluate(rule(description=True), state(description="<!-- what? -->\n")))
    assert not template.passed and "template" in template.why


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ({"description": True}, {}),
        ({"approvals": {"exclude_stale": True}}, {"reviews": True, "commits": True}),
        ({"max_lines": 5}, {"files": True}),
        ({"status_checks": "ci"}, {"statuses": True}),
        ({"reviewers": {"groups": ["g"], "code_owners": True}}, {"reviews": True, "files": True}),
    ],
)
def test_only_what_the_checks_need_is_fetched(
    checks: dict[str, object], expected: dict[str, bool]
) -> None:
    needs = needs_of(rule(**checks).checks)
    for name in ("reviews", "commits", "files", "statuses"):
        assert getattr(needs, name) is expected.get(name, False), name


def test_the_comment_is_a_table_and_depends_only_on_the_verdict() -> None:
    r = rule(approvals={"minimum": 1}, description=True)
    verdict = evaluate(r, state())
    text = comment(verdict)
    assert "| Approvals | ❌ fail | 0 of 1 approval" in text
    assert "| Description | ✅ pass |" in text
    assert text == comment(evaluate(r, state()))
    assert verdict.digest() == evaluate(r, state()).digest()
    approved = evaluate(r, state(reviews=(Review("erin", "approved"),)))
    assert approved.passed and approved.digest() != verdict.digest()
    assert "every check passes" in comment(approved)
