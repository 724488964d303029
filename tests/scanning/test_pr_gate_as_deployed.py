"""The PR gate with the deploy's own settings: secret_scan built from function.yaml's
environment (deploy variables filled) and its secrets (as Secret Manager would mount them),
with only each vendor's API base URL pointed at its loopback fake. Those credentials must
be enough for every SCM's gate, and ``cievents check`` must pass with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cievents.checks.base import run_checks
from cievents.checks.scm import pr_gate_checks
from cievents.demo.filters import compile_filter
from cievents.deploy.manifest import Function, load
from tests.scanning.test_secret_scan_pr_gate import (
    FIXED,
    H1,
    H2,
    LEAKING,
    PEM,
    TOKEN,
    deliver,
    make_scm,
)
from tests.support.apps import function_client
from tests.support.fakes.slack import TOKEN as SLACK_TOKEN
from tests.support.fakes.slack import slack_server

PR_EVENTS = {
    "github": ["pull_request"],
    "gitlab": ["merge_request"],
    "bitbucket": ["pullrequest:created", "pullrequest:updated"],
    "azure-devops": ["git.pullrequest.created", "git.pullrequest.updated"],
}


def secret_scan() -> Function:
    return load().function("secret_scan")


def deployed_env(fakes: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """The environment the deploy gives secret_scan, with the fakes' URLs."""
    manifest = load()
    variables = manifest.resolve(
        {
            "github_app_id": "12345",
            "github_app_installation_id": "77",
            "github_api_url": fakes["github"].fake.url,
            "gitlab_api_url": fakes["gitlab"].fake.url,
            "jira_url": "https://jira.invalid",
            "jira_email": "ci@example.com",
        },
        project="test-project",
        region="europe-west1",
    )
    function = secret_scan()
    secret_values = {  # what each Secret Manager secret holds in this deploy
        "github-app-private-key": PEM,
        "github-token": "-",  # an App, no token
        "gitlab-token": TOKEN,
        "bitbucket-token": TOKEN,
        "azure-devops-pat": TOKEN,
        "buildkite-api-token": "-",
        "slack-bot-token": SLACK_TOKEN,
        "cievents-fingerprint-key": "k" * 32,
    }
    env = function.environment_with(variables)
    env.update({name: secret_values[secret] for name, secret in function.secrets.items()})
    # Not in the manifest because they default to the vendors' own hosts:
    env["SLACK_API_URL"] = f"{fakes['slack'].url}/api/"
    env["BITBUCKET_API_URL"] = fakes["bitbucket"].fake.url
    env["AZURE_DEVOPS_ORG_URL"] = f"{fakes['azure-devops'].fake.url}/fabrikam"
    # Local stand-ins for Firestore and the dead-letter topic, nothing else:
    env["CIEVENTS_STORE"] = f"sqlite:{tmp_path / 'state.db'}"
    env["CIEVENTS_FINDINGS_PUBLISH_TO"] = f"file:{tmp_path / 'findings.jsonl'}"
    env.pop("CIEVENTS_DEAD_LETTER", None)
    env["CIEVENTS_TRACING"] = "off"  # the deploy's Cloud Trace needs Google credentials
    return env


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    built: dict[str, Any] = {s: make_scm(s) for s in PR_EVENTS}
    built["slack"] = slack_server().start()
    yield built
    built.pop("slack").stop()
    for scm in built.values():
        scm.fake.stop()


@pytest.mark.parametrize(("source", "event"), [(s, e) for s, es in PR_EVENTS.items() for e in es])
def test_the_manifest_admits_every_scms_pr_events(source: str, event: str) -> None:
    filters = [t.filter for t in secret_scan().triggers]
    assert sum(bool(compile_filter(f)({"source": source, "event": event})) for f in filters) == 1
    assert all(len(f.encode()) <= 256 for f in filters)


def test_the_deploys_credentials_are_enough_for_every_scms_gate(
    fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = deployed_env(fakes, tmp_path)
    for name in [n for n in env if n.startswith(("GITHUB_", "GITLAB_", "BITBUCKET_", "AZURE_"))]:
        assert env[name] or name.endswith("_URL"), name
    client = function_client(
        monkeypatch, str(Path(__file__).parents[2] / "functions/secret_scan/main.py"), env
    )
    for scm in [v for k, v in fakes.items() if k != "slack"]:
        scm.set_head(H1, LEAKING)
        assert deliver(client, scm, "opened", H1) == 200
        assert scm.check(H1) == scm.failed, scm.source
        scm.set_head(H2, FIXED)
        assert deliver(client, scm, "updated", H2) == 200
        assert scm.check(H2) == scm.passed, scm.source
        assert len(scm.comments()) == 1
    results = run_checks(pr_gate_checks(env, 10.0))
    assert {r.integration for r in results} == {"github", "gitlab", "bitbucket", "azure-repos"}
    assert all(r.status == "pass" for r in results), results
