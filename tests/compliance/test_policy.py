"""The policy file: selection by repository and target branch, ${VAR}, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cievents.compliance.policy import load, parse_policy
from cievents.errors import ConfigError

EXAMPLE = """
rules:
  - name: production
    repository: ["acme-inc/*", "${EXTRA_REPO:-acme-inc/web}"]
    target_branch: [main, "release/*"]
    checks:
      branch_name: '^(feature|fix|chore)/[A-Z]+-\\d+-'
      jira_key: {in: [title, branch], verify: true, projects: [SHOP]}
      approvals: {minimum: "${MIN_APPROVALS}", exclude_stale: true}
      reviewers: {users: [alice], groups: [acme-inc/security], code_owners: true}
      status_checks: ["buildkite/*", ci/lint]
      no_merge_commits: true
      max_files: 50
      max_lines: 1000
      description: true
  - name: everything else
    checks:
      description: true
"""


def test_the_complete_example_parses_with_variables() -> None:
    policy = parse_policy(yaml.safe_load(EXAMPLE), {"MIN_APPROVALS": "2"})
    first = policy.rules[0]
    assert first.checks.approvals is not None and first.checks.approvals.minimum == 2
    assert first.checks.approvals.exclude_stale
    assert first.repositories == ("acme-inc/*", "acme-inc/web")
    assert first.checks.enabled() == (
        "branch_name",
        "jira_key",
        "approvals",
        "reviewers",
        "status_checks",
        "no_merge_commits",
        "max_files",
        "max_lines",
        "description",
    )
    assert policy.needs_jira()


def test_the_first_matching_rule_governs() -> None:
    policy = parse_policy(yaml.safe_load(EXAMPLE), {"MIN_APPROVALS": "1"})
    assert policy.rule_for("acme-inc/api", "release/2.0").name == "production"
    assert policy.rule_for("acme-inc/api", "develop").name == "everything else"
    assert policy.rule_for("other/x", "main").name == "everything else"


def test_no_rule_means_not_governed() -> None:
    policy = parse_policy({"rules": [{"target_branch": "main", "checks": {"description": True}}]})
    assert policy.rule_for("a/b", "develop") is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"rules": [{"nme": "x"}]}, "rule 1: unknown key 'nme'"),
        (
            {"rules": [{"name": "p", "checks": {"aprovals": 1}}]},
            "rule 1 ('p'): unknown key 'checks.aprovals'",
        ),
        (
            {"rules": [{"checks": {"approvals": {"minimun": 2}}}]},
            "unknown key 'checks.approvals.minimun'",
        ),
        ({"rules": [{"checks": {"approvals": {"minimum": 0}}}]}, "'checks.approvals.minimum'"),
        ({"rules": [{"checks": {"branch_name": "(["}}]}, "'checks.branch_name' is not a regular"),
        ({"rules": [{"checks": {"jira_key": {"in": ["body"]}}}]}, "'checks.jira_key.in'"),
        ({"rules": [{"checks": {"no_merge_commits": "yes"}}]}, "'checks.no_merge_commits'"),
        ({"rules": [{"checks": {"reviewers": {}}}]}, "'checks.reviewers' names no users"),
        ({"rules": [{"checks": {}}]}, "enables no check"),
        ({"rule": []}, "a mapping with a 'rules' list"),
    ],
)
def test_a_bad_key_is_one_line_naming_it(document: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy(document, {})
    text = str(caught.value)
    assert text.startswith("COMPLIANCE_POLICY_FILE: ")
    assert message in text
    assert "\n" not in text


def test_an_unset_variable_names_itself() -> None:
    with pytest.raises(ConfigError, match=r"^MIN_APPROVALS: is used by rule 1"):
        parse_policy(yaml.safe_load(EXAMPLE), {})


def test_load_reads_the_file_the_inline_yaml_or_the_default(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(EXAMPLE, "utf-8")
    assert load(env={"COMPLIANCE_POLICY_FILE": str(path), "MIN_APPROVALS": "3"}).rules[0].name
    inline = load(env={"COMPLIANCE_POLICY": "rules: [{checks: {description: true}}]"})
    assert inline.rules[0].checks.description
    default = load(env={})
    assert default.rule_for("any/repo", "main") is not None
    with pytest.raises(ConfigError, match="cannot read"):
        load(env={"COMPLIANCE_POLICY_FILE": str(tmp_path / "missing.yaml")})
    with pytest.raises(ConfigError, match="COMPLIANCE_POLICY: not valid YAML"):
        load(env={"COMPLIANCE_POLICY": "rules: [unclosed"})
