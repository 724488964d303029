"""The posture audit on GitHub: the real client against the loopback GitHub API, which pages
rulesets for real (two a page), refuses the protection read without admin rights, fails a
page with 502 once and rate-limits with 429 + Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from cievents import clock
from cievents.errors import ConfigError
from cievents.inventory.model import Repo
from cievents.inventory.posture import PosturePolicy, audit_repository
from cievents.scm.github import GitHubClient
from tests.inventory.support import make_repo
from tests.support.fakehttp import Fault, Reply
from tests.support.fakes.github import AuditedRepo, FakeGitHub

TOKEN = "ghp_" + "P0sture" * 5  # what must never appear in a finding
POLICY = PosturePolicy(private_owners=("github:acme",), stale_days=90)
FULL_PROTECTION = {
    "required_pull_request_reviews": {"required_approving_review_count": 2},
    "required_status_checks": {"strict": True, "contexts": ["ci"], "checks": []},
    "allow_force_pushes": {"enabled": False},
    "enforce_admins": {"enabled": True},
}


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    server = FakeGitHub(tokens=(TOKEN,), page_size=2).start()
    yield server
    server.stop()


def client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient(api_url=fake.url, token=TOKEN, max_pages=10)


def repo(name: str = "acme/web", **changes: Any) -> Repo:
    id_ = str(changes.pop("id", 1))
    return make_repo("github", name, id_, web_url=f"https://github.com/{name}", **changes)


def rules_of(findings: list[Any]) -> list[str]:
    return sorted(f.rule_id for f in findings)


def test_unprotected_default_branch(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo()
    found = audit_repository(repo(), client(fake), POLICY, clock.now_utc())
    assert rules_of(found) == ["posture-branch-unprotected"]
    finding = found[0]
    assert finding.family == "posture" and finding.source == "repo_inventory"
    assert finding.severity == "high" and finding.branch == "main"
    assert finding.location["kind"] == "branch" and finding.location["path"] == "acme/web"
    assert "unprotected" in finding.preview


def test_weak_classic_protection_names_each_gap(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(
        protection={
            "required_pull_request_reviews": {"required_approving_review_count": 0},
            "required_status_checks": None,
            "allow_force_pushes": {"enabled": True},
        }
    )
    found = audit_repository(repo(), client(fake), POLICY, clock.now_utc())
    assert rules_of(found) == [
        "posture-checks-not-required",
        "posture-force-push-allowed",
        "posture-reviews-not-required",
    ]
    reviews = next(f for f in found if f.rule_id == "posture-reviews-not-required")
    assert reviews.location["setting"]["reviews"] == 0
    assert "the policy wants 1" in reviews.preview


def test_full_classic_protection_passes(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(protection=FULL_PROTECTION)
    assert audit_repository(repo(), client(fake), POLICY, clock.now_utc()) == []


def test_rulesets_over_several_pages_protect_the_branch(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(
        rules=[
            {"type": "deletion", "ruleset_id": 7},
            {"type": "creation", "ruleset_id": 7},
            {
                "type": "pull_request",
                "ruleset_id": 7,
                "parameters": {"required_approving_review_count": 1},
            },
            {
                "type": "required_status_checks",
                "ruleset_id": 8,
                "parameters": {"required_status_checks": [{"context": "cievents/secret-scan"}]},
            },
            {"type": "non_fast_forward", "ruleset_id": 8},
        ]
    )
    assert audit_repository(repo(), client(fake), POLICY, clock.now_utc()) == []
    assert len(fake.calls("GET", r"/repos/acme/web/rules/branches/main")) == 3  # 2 + 2 + 1


def test_a_ruleset_without_force_push_block_is_reported(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(
        rules=[
            {"type": "pull_request", "parameters": {"required_approving_review_count": 1}},
            {"type": "required_status_checks", "parameters": {"required_status_checks": [{}]}},
        ]
    )
    found = audit_repository(repo(), client(fake), POLICY, clock.now_utc())
    assert rules_of(found) == ["posture-force-push-allowed"]


def test_protection_not_readable_is_unknown_not_unprotected(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(protection_forbidden=True)
    assert audit_repository(repo(), client(fake), POLICY, clock.now_utc()) == []
    # ... while the rulesets anyone may read still count
    fake.audited["acme/web"] = AuditedRepo(
        protection_forbidden=True, rules=[{"type": "non_fast_forward"}]
    )
    found = audit_repository(repo(), client(fake), POLICY, clock.now_utc())
    assert rules_of(found) == ["posture-checks-not-required", "posture-reviews-not-required"]


def test_secret_scanning_and_push_protection(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(
        protection=FULL_PROTECTION,
        security_and_analysis={
            "secret_scanning": {"status": "disabled"},
            "secret_scanning_push_protection": {"status": "disabled"},
            "advanced_security": {"status": "enabled"},
        },
    )
    found = audit_repository(repo(), client(fake), POLICY, clock.now_utc())
    assert rules_of(found) == [
        "posture-push-protection-disabled",
        "posture-secret-scanning-disabled",
    ]
    fake.audited["acme/web"].security_and_analysis = {
        "secret_scanning": {"status": "enabled"},
        "secret_scanning_push_protection": {"status": "enabled"},
    }
    assert audit_repository(repo(), client(fake), POLICY, clock.now_utc()) == []
    fake.audited["acme/web"].security_and_analysis = None  # not reported: nothing claimed
    assert audit_repository(repo(), client(fake), POLICY, clock.now_utc()) == []


def test_public_repository_where_the_policy_says_private(fake: FakeGitHub) -> None:
    fake.audited["acme/site"] = AuditedRepo(protection=FULL_PROTECTION, visibility="public")
    fake.audited["octo/site"] = AuditedRepo(protection=FULL_PROTECTION, visibility="public")
    now = clock.now_utc()
    found = audit_repository(repo("acme/site", visibility="public"), client(fake), POLICY, now)
    assert rules_of(found) == ["posture-public-repository"]
    other = repo("octo/site", id=2, visibility="public")
    assert audit_repository(other, client(fake), POLICY, now) == []


def test_stale_repository_still_open_to_writes(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(protection=FULL_PROTECTION)
    now = clock.now_utc()
    old = repo(last_push=now - timedelta(days=400))
    found = audit_repository(old, client(fake), POLICY, now)
    assert rules_of(found) == ["posture-stale-writable"]
    assert "400 days" in found[0].preview
    assert audit_repository(old.with_(archived=True), client(fake), POLICY, now) == []
    recent = repo(last_push=now - timedelta(days=89))
    assert audit_repository(recent, client(fake), POLICY, now) == []


def test_fingerprints_are_stable_across_audits_and_renames(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo()
    fake.audited["acme/web-renamed"] = AuditedRepo()
    now = clock.now_utc()
    first = audit_repository(repo(), client(fake), POLICY, now)
    again = audit_repository(repo(), client(fake), POLICY, now + timedelta(hours=6))
    renamed = audit_repository(repo("acme/web-renamed"), client(fake), POLICY, now)
    assert [f.fingerprint for f in first] == [f.fingerprint for f in again]
    assert [f.fingerprint for f in first] == [f.fingerprint for f in renamed]
    other = audit_repository(repo("acme/web-renamed", id=99), client(fake), POLICY, now)
    assert {f.fingerprint for f in other}.isdisjoint(f.fingerprint for f in first)


def test_a_failing_page_and_a_rate_limit_are_retried(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(
        rules=[{"type": "pull_request"}, {"type": "deletion"}, {"type": "non_fast_forward"}]
    )
    fake.fault("GET", r"/repos/acme/web/rules/branches/main", Fault("status", 502, {}, "bad gw"))
    fake.queue(
        "GET",
        r"/repos/acme/web/branches/main/protection",
        Reply(429, {"message": "slow down"}, {"Retry-After": "1"}),
    )
    started = clock.now()
    found = audit_repository(repo(), client(fake), POLICY, clock.now_utc())
    assert clock.now() - started >= 1.0  # Retry-After was honoured
    assert rules_of(found) == ["posture-checks-not-required", "posture-reviews-not-required"]
    assert len(fake.calls("GET", r"/repos/acme/web/branches/main/protection")) == 2
    assert len(fake.calls("GET", r"/repos/acme/web/rules/branches/main")) == 3  # 502, 1, 2


def test_no_credential_in_any_finding(fake: FakeGitHub) -> None:
    fake.audited["acme/web"] = AuditedRepo(
        security_and_analysis={"secret_scanning": {"status": "disabled"}}, visibility="public"
    )
    now = clock.now_utc()
    public = repo(visibility="public", last_push=now - timedelta(days=999))
    found = audit_repository(public, client(fake), POLICY, now)
    assert len(found) == 4
    assert all(TOKEN not in f.to_bytes().decode() for f in found)


def test_policy_from_env_and_its_one_line_errors() -> None:
    policy = PosturePolicy.from_env(
        {
            "AUDIT_CHECKS": "branch-protection, stale",
            "AUDIT_MIN_REVIEWS": "2",
            "AUDIT_REQUIRE_CHECKS": "false",
            "AUDIT_PRIVATE_OWNERS": "github:acme,platform-*",
            "AUDIT_STALE_DAYS": "30",
        }
    )
    assert policy.checks == {"branch-protection", "stale"}
    assert (policy.min_reviews, policy.require_checks, policy.stale_days) == (2, False, 30)
    assert policy.wants_private(repo("acme/x")) and policy.wants_private(repo("platform-a/x"))
    assert not policy.wants_private(repo("octo/x"))
    assert not policy.wants_private(repo("acme/x").with_(scm="gitlab"))
    assert PosturePolicy.from_env({}) == PosturePolicy()
    for env, named in (
        ({"AUDIT_CHECKS": "branch-protection,typo"}, "AUDIT_CHECKS"),
        ({"AUDIT_PRIVATE_OWNERS": "svn:acme"}, "AUDIT_PRIVATE_OWNERS"),
        ({"AUDIT_STALE_DAYS": "soon"}, "AUDIT_STALE_DAYS"),
        ({"AUDIT_MIN_REVIEWS": "-1"}, "AUDIT_MIN_REVIEWS"),
    ):
        with pytest.raises(ConfigError) as caught:
            PosturePolicy.from_env(env)
        message = str(caught.value)
        assert message.startswith(named) and "\n" not in message and "e.g." in message


def test_a_posture_finding_files_as_a_posture_work_item(fake: FakeGitHub) -> None:
    from cievents.tracker.workitems import description, kind_label, title

    fake.audited["acme/web"] = AuditedRepo()
    finding = audit_repository(repo(), client(fake), POLICY, clock.now_utc())[0]
    assert title(finding) == "Repository posture: posture-branch-unprotected in acme/web"
    text = description(finding)
    assert "default branch main is unprotected" in text and "Fix: protect" in text
    assert "Leaked" not in text and f"Fingerprint: {finding.fingerprint}" in text
    assert kind_label(finding) == "cievents-posture"
