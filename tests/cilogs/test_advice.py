"""Advice per finding: the revocation page of the credential kind, the CI's own tokens' setting,
and whether the CI's masking should have hidden the value."""

from __future__ import annotations

from cievents.cilogs.advice import advice_for


def test_the_ci_own_token_should_always_have_been_masked() -> None:
    log = (
        b"2026-11-30T14:02:11Z echo $(echo $GITHUB_TOKEN | rev | rev)\n"
        b"2026-11-30T14:02:11Z ghs_xxx\n"
    )
    advice = advice_for(
        "github", "github-app-installation-token", "ghs_xxxx", log, log.index(b"ghs_"), 0
    )
    assert advice.masking == "yes"
    assert "GITHUB_TOKEN" in advice.revoke and "Workflow permissions" in advice.revoke
    assert "`rev`" in advice.masking_note  # the transform that defeated the masker


def test_buildkite_names_the_redactor_when_the_variable_matches_its_patterns() -> None:
    log = b"\x1b_bk;t=1\x07export DEPLOY_TOKEN=ghp_abc\n"
    advice = advice_for("buildkite", "github-token", "ghp_abc", log, log.index(b"ghp_"), 0)
    assert advice.masking == "if-secret" and "buildkite-agent redactor add" in advice.masking_note
    assert advice.link == "https://github.com/settings/tokens"


def test_masking_on_in_the_job_or_not() -> None:
    log = b"key: AKIA\n"
    on = advice_for("gitlab", "aws-access-key-id", "AKIA", log, 5, masked=3)
    off = advice_for("gitlab", "aws-access-key-id", "AKIA", log, 5, masked=0)
    assert (on.masking, off.masking) == ("if-secret", "no")
    assert "Settings → CI/CD → Variables" in on.masking_note
    assert on.link and on.link.startswith("https://console.aws.amazon.com/iam")


def test_an_unknown_kind_still_says_what_to_do() -> None:
    advice = advice_for("azure", "secret-assignment", "hunter2x", b"PASSWORD=hunter2x\n", 9, 0)
    assert advice.revoke == "rotate the credential where it was issued" and advice.link is None
