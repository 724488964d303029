"""A bad setting stops a function at cold start with one line (the variable, what is wrong
with its value, an accepted example), not a traceback: each function is served as
function.yaml deploys it, by the functions-framework command, with a bad CIEVENTS_STORE."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.serving import _deployed_env as deployed_env
from cievents.config import CommonSettings, store_spec
from cievents.deploy import manifest
from cievents.errors import ConfigError
from tests.support.emulators import free_port
from tests.support.tools import ROOT

FUNCTIONS = manifest.load().functions


def _serve(function: manifest.Function, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(ROOT / ".venv/bin/functions-framework"),
            "--source",
            str(ROOT / function.source / "main.py"),
            "--target",
            function.entry_point,
            "--signature-type",
            function.signature_type,
            "--port",
            str(free_port()),
        ],
        # As deployed: function.yaml's environment with its ${variables} filled from their
        # defaults (one without a default is left out, as a deploy would have to give it).
        env={**os.environ, **deployed_env(function.name), **env},
        capture_output=True,
        text=True,
        timeout=240,  # a cold import on a busy machine; a server that started would hang here
        check=False,
    )


@pytest.mark.slow
def test_every_function_stops_with_one_line_naming_the_bad_setting() -> None:
    with ThreadPoolExecutor(4) as pool:
        done = dict(
            zip(
                [f.name for f in FUNCTIONS],
                pool.map(lambda f: _serve(f, {"CIEVENTS_STORE": "redis://x"}), FUNCTIONS),
                strict=True,
            )
        )
    stopped_by: dict[str, int] = {}
    for name, result in done.items():
        output = (result.stdout + result.stderr).strip()
        assert result.returncode != 0, f"{name} started with CIEVENTS_STORE=redis://x"
        assert "Traceback" not in output, f"{name}:\n{output}"
        lines = output.splitlines()
        assert len(lines) == 1, f"{name} printed {len(lines)} lines:\n{output}"
        line = json.loads(lines[0])
        assert line["severity"] == "ERROR" and line["variable"] in line["message"], name
        if line["variable"] == "CIEVENTS_STORE":
            assert "redis://x" in line["message"] and "e.g. CIEVENTS_STORE=" in line["message"]
        stopped_by[line["variable"]] = stopped_by.get(line["variable"], 0) + 1
    # a function may stop on another required setting first (one line all the same)
    assert stopped_by.get("CIEVENTS_STORE", 0) >= len(FUNCTIONS) - 2, stopped_by


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"CIEVENTS_STORE": "redis://x"},
            "CIEVENTS_STORE: unknown backend 'redis://x'; use memory:",
        ),
        ({"CIEVENTS_STORE": "sqlite"}, "CIEVENTS_STORE: unknown backend 'sqlite'"),
        (
            {"CIEVENTS_STORE": "gcs:"},
            "CIEVENTS_STORE: gcs: needs a bucket (e.g. CIEVENTS_STORE=gcs:",
        ),
        ({"CIEVENTS_LEASE_S": "2m"}, "CIEVENTS_LEASE_S: expected a number, got '2m' (e.g. "),
        ({"CIEVENTS_LEASE_S": "0"}, "CIEVENTS_LEASE_S: must be at least 1, got 0 (e.g. "),
        ({"CIEVENTS_DRY_RUN": "maybe"}, "CIEVENTS_DRY_RUN: expected true or false, got 'maybe'"),
    ],
)
def test_common_settings_name_the_variable_and_an_example(
    environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        CommonSettings.from_env(environ)
    assert caught.value.message.startswith(expected)
    assert "\n" not in caught.value.message and "(e.g. " in caught.value.message


@pytest.mark.parametrize(
    "spec", ["memory:", "sqlite:/tmp/x.db", "firestore:", "firestore:claims", "gcs:b/p"]
)
def test_every_documented_store_form_is_accepted(spec: str) -> None:
    assert store_spec(spec) == spec


URL_CASES = [
    ("github_status", "GITHUB_API_URL", "api.github.com"),
    ("jira_update", "JIRA_URL", "acme.atlassian.net"),
    ("slack_notify", "SLACK_API_URL", "slack.com/api"),
    ("health", "SLACK_API_URL", "https://"),
    ("teams_notify", "TEAMS_WEBHOOK_URL", "prod-00.westeurope.logic.azure.com/workflows/x"),
]


@pytest.mark.slow
def test_an_address_without_its_scheme_stops_the_cold_start_naming_it() -> None:
    by_name = {f.name: f for f in FUNCTIONS}
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda c: _serve(by_name[c[0]], {c[1]: c[2]}), URL_CASES))
    for (name, variable, value), result in zip(URL_CASES, done, strict=True):
        output = (result.stdout + result.stderr).strip()
        assert result.returncode != 0, f"{name} started with {variable}={value}"
        assert "Traceback" not in output and len(output.splitlines()) == 1, f"{name}:\n{output}"
        line = json.loads(output)
        assert line["variable"] == variable, (name, line)
        assert repr(value) in line["message"], line
        assert f"(e.g. {variable}=https://" in line["message"], line


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("api.github.com", "'api.github.com' needs the scheme (https://)"),
        ("ftp://api.github.com", "is not an http(s) URL with a host"),
        ("https://", "is not an http(s) URL with a host"),
        ("https://api.github.com extra", "is not an http(s) URL with a host"),
    ],
)
def test_url_settings_are_checked_for_form(value: str, said: str) -> None:
    from cievents.config import env_opt, env_str

    for read in (
        lambda: env_str(
            "GITHUB_API_URL", "https://api.github.com", environ={"GITHUB_API_URL": value}
        ),
        lambda: env_opt("GITHUB_API_URL", environ={"GITHUB_API_URL": value}),
    ):
        with pytest.raises(ConfigError) as caught:
            read()
        assert (
            said in caught.value.message
            and "(e.g. GITHUB_API_URL=https://api.github.com)" in caught.value.message
        )
    ok = {
        "GITHUB_API_URL": "http://127.0.0.1:8080/api/v3",
        "TEAMS_WEBHOOK_URL_ONCALL": "https://x.example/hook?sig=1",
    }
    assert env_str("GITHUB_API_URL", environ=ok) == ok["GITHUB_API_URL"]
    assert env_opt("TEAMS_WEBHOOK_URL_ONCALL", environ=ok) == ok["TEAMS_WEBHOOK_URL_ONCALL"]
    with pytest.raises(ConfigError, match="TEAMS_WEBHOOK_URL_ONCALL"):
        env_opt("TEAMS_WEBHOOK_URL_ONCALL", environ={"TEAMS_WEBHOOK_URL_ONCALL": "x.example/hook"})
