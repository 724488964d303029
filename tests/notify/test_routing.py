"""Routing rules: matching, the built-in default, and cold-start validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cievents import log, routing
from cievents.errors import ConfigError
from cievents.idempotency.memory import MemoryStore
from cievents.notify import changes
from cievents.routing import Query, parse_rules


def query(**overrides: object) -> Query:
    fields: dict[str, object] = {
        "source": "buildkite",
        "event": "build.finished",
        "pipeline": "web-app",
        "branch": "main",
        "state": "failed",
        "changed": True,
    }
    fields.update(overrides)
    return Query(**fields)  # type: ignore[arg-type]


def rules(text: str, env: dict[str, str] | None = None) -> routing.Routes:
    return parse_rules(yaml.safe_load(text), env or {})


def test_every_filter_must_match_and_destinations_are_unioned() -> None:
    routes = rules(
        """
rules:
  - name: web failures
    pipeline: ["web-*", api]
    branch: "release/*"
    state: [failed, canceled]
    slack: "#web"
  - name: everything to the firehose
    slack: "#firehose"
    teams: default
  - name: firehose twice is still once
    source: buildkite
    slack: "#firehose"
"""
    )
    assert routes.slack_channels(query(branch="release/1.2")) == ["#web", "#firehose"]
    assert routes.slack_channels(query(pipeline="api", branch="release/x")) == [
        "#web",
        "#firehose",
    ]
    assert routes.slack_channels(query(pipeline="apix", branch="release/1")) == ["#firehose"]
    assert routes.slack_channels(query(branch="release/1", state="passed")) == ["#firehose"]
    assert routes.slack_channels(query(source="gitlab")) == ["#firehose"]
    assert routes.teams_webhooks(query()) == ["default"]
    assert routes.all_slack_channels() == ["#web", "#firehose"]


def test_globs_are_case_sensitive_and_whole_value() -> None:
    routes = rules("rules:\n  - {branch: 'feat*', slack: '#f'}\n")
    assert routes.slack_channels(query(branch="feature/x")) == ["#f"]
    assert routes.slack_channels(query(branch="Feature/x")) == []
    assert routes.slack_channels(query(branch="my-feature")) == []


def test_changed_matches_only_finished_builds_whose_state_changed() -> None:
    routes = rules(
        "rules:\n  - {changed: true, slack: '#news'}\n  - {changed: false, slack: '#same'}\n"
    )
    assert routes.needs_change_tracking()
    assert routes.slack_channels(query(changed=True)) == ["#news"]
    assert routes.slack_channels(query(changed=False)) == ["#same"]
    assert routes.slack_channels(query(changed=None, event="build.running")) == []


def test_the_built_in_default_follows_main_and_announces_changes_elsewhere() -> None:
    routes = routing.load(env={})
    assert routes.slack_channels(query(event="build.running", state="running", changed=None)) == [
        "#builds"
    ]
    feature = {"branch": "feature/x"}
    assert routes.slack_channels(query(**feature, changed=True)) == ["#builds"]
    assert routes.slack_channels(query(**feature, changed=False)) == []
    assert routes.slack_channels(query(**feature, event="build.running", changed=None)) == []
    assert routes.teams_webhooks(query(**feature, changed=True)) == ["default"]
    assert routes.teams_webhooks(query(changed=False)) == []
    assert routing.load(env={"SLACK_CHANNEL": "C0123"}).all_slack_channels() == ["C0123"]


def test_the_file_comes_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {slack: '${TEAM_CHANNEL:-#fallback}'}\n")
    assert routing.load(env={"CIEVENTS_ROUTING_FILE": str(path)}).all_slack_channels() == [
        "#fallback"
    ]
    env = {"CIEVENTS_ROUTING_FILE": str(path), "TEAM_CHANNEL": "#team"}
    assert routing.load(env=env).all_slack_channels() == ["#team"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", "must be a mapping with a 'rules' list"),
        ("rules: {}", "must be a mapping with a 'rules' list"),
        ("rules: [nope]", "rule 1: must be a mapping"),
        (
            "rules:\n  - {slack: '#a'}\n  - {name: typo, slak: '#b'}",
            "rule 2 ('typo'): unknown key(s) slak",
        ),
        ("rules:\n  - {name: quiet, branch: main}", "rule 1 ('quiet'): names no destination"),
        ("rules:\n  - {state: fail, slack: '#a'}", "rule 1: unknown state 'fail'; known:"),
        ("rules:\n  - {source: gitlub, slack: '#a'}", "unknown source 'gitlub'"),
        ("rules:\n  - {changed: yes please, slack: '#a'}", "'changed' must be true or false"),
        ("rules:\n  - {branch: [], slack: '#a'}", "'branch' must be a string or a list"),
        ("rules:\n  - {branch: true, slack: '#a'}", "'branch' must be a string or a list"),
        ("rules:\n  - {branch: {a: 1}, slack: '#a'}", "'branch' must be a string or a list"),
    ],
)
def test_a_bad_rule_is_refused_naming_it(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        rules(text)
    assert raised.value.variable == "CIEVENTS_ROUTING_FILE"
    assert problem in raised.value.problem


def test_an_unset_variable_names_itself_and_the_rule() -> None:
    with pytest.raises(ConfigError) as raised:
        rules("rules:\n  - {name: ops, slack: '${OPS_CHANNEL}'}\n")
    assert raised.value.variable == "OPS_CHANNEL"
    assert "rule 1 ('ops')" in raised.value.problem


def test_unreadable_or_invalid_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        routing.load(str(tmp_path / "missing.yaml"), env={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        routing.load(str(broken), env={})


def test_teams_destinations_and_their_urls() -> None:
    url = "https://prod-00.westeurope.logic.azure.com/workflows/abc?sig=s3cr3t-sig-value"
    routes = rules(
        f"rules:\n  - {{name: a, teams: default}}\n  - {{name: b, teams: on-call}}\n"
        f"  - {{name: c, teams: '{url}'}}\n"
    )
    assert routes.teams_destinations() == {"default": "a", "on-call": "b", url: "c"}
    env = {"TEAMS_WEBHOOK_URL": "https://d.example/x", "TEAMS_WEBHOOK_URL_ON_CALL": "https://o/y"}
    assert routing.teams_webhook_variable("on-call") == "TEAMS_WEBHOOK_URL_ON_CALL"
    assert routing.teams_webhook_url("default", env) == "https://d.example/x"
    assert routing.teams_webhook_url("on-call", env) == "https://o/y"
    assert routing.teams_webhook_url("missing", env) is None
    assert routing.teams_webhook_url(url, env) == url
    assert "s3cr3t-sig-value" not in log.mask(f"posting to {url}")  # a literal URL is a secret


def test_change_detection_is_stable_under_redelivery_and_reordering() -> None:
    store = MemoryStore()
    key = "slack_notify:branch:web-app:main"
    assert changes.record_and_compare(store, key, 1, "passed") is False  # a first pass is no news
    assert changes.record_and_compare(store, key, 3, "failed") is True
    assert changes.record_and_compare(store, key, 2, "passed") is False  # late, still vs #1
    assert changes.record_and_compare(store, key, 3, "failed") is True  # redelivered: same answer
    assert changes.record_and_compare(store, key, 4, "failed") is False
    assert changes.record_and_compare(store, key, 5, "passed") is True
    fresh = "slack_notify:branch:web-app:new"
    assert changes.record_and_compare(store, fresh, 7, "failed") is True  # first failure: news


def test_a_late_build_revises_the_answer_of_the_build_after_it_until_settled() -> None:
    store = MemoryStore()
    key = "slack_notify:branch:web-app:feature"
    first = changes.record(store, key, 4813, "passed", {"key": "b-4813"})
    assert first.changed is False and first.revisions == ()  # a first pass is no news
    late = changes.record(store, key, 4812, "failed")
    assert late.changed is True  # the first failure
    (revision,) = late.revisions  # ... and now #4813 is its recovery
    assert (revision.number, revision.changed, revision.held) == (4813, True, {"key": "b-4813"})
    again = changes.record(store, key, 4812, "failed")  # a redelivery before acting on it
    assert again.revisions == (revision,)
    changes.settle(store, key, revision)
    assert changes.record(store, key, 4812, "failed").revisions == ()
    # A failure posted as news, then a late earlier failure shows it was not.
    assert changes.record(store, key, 4815, "failed").changed is True
    (not_news,) = changes.record(store, key, 4814, "failed").revisions
    assert (not_news.number, not_news.changed) == (4815, False)


def test_the_built_in_rules_ship_as_json_equal_to_the_commented_yaml() -> None:
    """The default rules are read from JSON (no YAML parser at cold start); the YAML copy
    users start from must say the same. On a difference, regenerate the JSON from it."""
    import json
    from importlib import resources

    data = resources.files("cievents").joinpath("data")
    as_yaml = yaml.safe_load(data.joinpath("routing.default.yaml").read_text("utf-8"))
    as_json = json.loads(data.joinpath("routing.default.json").read_text("utf-8"))
    assert as_json == as_yaml
    assert routing.load(env={}).all_slack_channels() == ["#builds"]
