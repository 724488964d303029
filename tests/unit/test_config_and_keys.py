"""Settings fail at cold start naming the variable; Jira keys are found where people write them."""

from __future__ import annotations

import pytest

from cievents import jirakeys
from cievents.config import CommonSettings, env_bool, env_int, env_list, env_str
from cievents.errors import ConfigError


def test_readers() -> None:
    env = {"N": "5", "B": "yes", "L": "a, b,,c", "S": " x "}
    assert env_int("N", 1, environ=env) == 5 and env_int("MISSING", 1, environ=env) == 1
    assert env_bool("B", environ=env) is True
    assert env_list("L", environ=env) == ("a", "b", "c")
    assert env_str("S", environ=env) == "x"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: env_str("SLACK_BOT_TOKEN", environ={}), "SLACK_BOT_TOKEN: is required"),
        (lambda: env_int("N", 1, environ={"N": "ten"}), "N: expected an integer, got 'ten'"),
        (lambda: env_int("N", 1, minimum=2, environ={"N": "1"}), "N: must be at least 2"),
        (lambda: env_bool("B", environ={"B": "maybe"}), "B: expected true or false"),
        (lambda: CommonSettings.from_env({"CIEVENTS_LEASE_S": "-1"}), "CIEVENTS_LEASE_S"),
    ],
)
def test_bad_settings_name_the_variable(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


def test_common_defaults() -> None:
    settings = CommonSettings.from_env({})
    assert settings.max_event_age_s == 3 * 24 * 3600 and settings.dry_run is False


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("Fix SHOP-311: rounding", "feature/SHOP-311-rounding"), ("SHOP-311",)),
        (("ABC-1 and DEF-22, then ABC-1 again",), ("ABC-1", "DEF-22")),
        (("utf-8 and sha-256 and ABC-0 and x-ABC-12y",), ()),
        (("[OPS-7] deploy", None, ""), ("OPS-7",)),
        (("feat/OPS_TEAM-9",), ("OPS_TEAM-9",)),
    ],
)
def test_jira_keys(texts: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert jirakeys.extract(*texts) == expected


def test_jira_keys_filtered_by_project() -> None:
    assert jirakeys.extract("SHOP-1 OPS-2", projects=["ops"]) == ("OPS-2",)
