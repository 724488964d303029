"""Which checks apply here: those of every integration configured in the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from cievents.checks import compliance, google, scm, vendors
from cievents.checks.base import Check


def routed_slack_channels() -> list[str]:
    """Channels the routing rules send to (the bot must be a member of each)."""
    import importlib

    try:
        routing = importlib.import_module("cievents.routing")
    except ImportError:
        return []
    loader = getattr(routing, "slack_channels", None)
    return list(loader()) if callable(loader) else []


def configured_checks(
    env: Mapping[str, str] | None = None, timeout_s: float = 10.0, function: str | None = None
) -> list[Check]:
    environ = os.environ if env is None else env
    checks = [
        *vendors.slack_checks(environ, timeout_s, routed_slack_channels),
        *vendors.teams_checks(environ, timeout_s),
        *vendors.github_checks(environ, timeout_s),
        *vendors.gitlab_checks(environ, timeout_s),
        *vendors.bitbucket_checks(environ, timeout_s),
        *vendors.jira_checks(environ, timeout_s),
        *vendors.azure_devops_checks(environ, timeout_s),
        *scm.pr_gate_checks(environ, timeout_s),
        *vendors.buildkite_checks(environ, timeout_s),
        *compliance.compliance_checks(environ, timeout_s, function),
        *google.bigquery_checks(environ, timeout_s),
        *google.gcs_checks(environ, timeout_s),
        *google.pubsub_checks(environ, timeout_s),
        *google.firestore_checks(environ, timeout_s),
    ]
    if function:
        checks = [c for c in checks if not c.functions or function in c.functions]
    return checks
