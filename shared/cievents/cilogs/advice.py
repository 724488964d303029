"""Advice that saves a rotation: how to revoke each kind of credential, and whether the CI's
own masking should have hidden it.

Every finding from a job log carries an :class:`Advice`:

* ``revoke`` / ``link`` — where the credential kind is revoked (the vendor's page), or
  for the CI's own tokens the exact setting that limits or expires them;
* ``masking`` — one of ``yes`` (the CI always masks this value, e.g. its own job
  token: it was printed through a transform that defeated the exact-value masker),
  ``if-secret`` (the CI masked other values in this job, so masking was on: had this
  value been stored as a secret/masked variable and printed verbatim it would show
  as the CI's marker) or ``no`` (nothing in this job was masked);
* ``masking_note`` — the sentence a person reads, naming the CI's setting, and the
  transform seen just before the line (``base64 -d``, ``jq``, ``printf``…) if any.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Advice", "advice_for", "ci_token"]


@dataclass(frozen=True)
class Advice:
    revoke: str
    link: str | None
    masking: str
    masking_note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# rule id → (how to revoke, vendor page)
REVOKE: dict[str, tuple[str, str | None]] = {
    "aws-access-key-id": (
        "IAM → Users → Security credentials: deactivate, then delete the access key",
        "https://console.aws.amazon.com/iam/home#/security_credentials",
    ),
    "aws-secret-access-key": (
        "IAM → Users → Security credentials: deactivate, then delete the access key",
        "https://console.aws.amazon.com/iam/home#/security_credentials",
    ),
    "gcp-api-key": (
        "APIs & Services → Credentials: regenerate or delete the key",
        "https://console.cloud.google.com/apis/credentials",
    ),
    "gcp-service-account-key": (
        "IAM → Service accounts → Keys: delete the key",
        "https://console.cloud.google.com/iam-admin/serviceaccounts",
    ),
    "azure-storage-key": (
        "Storage account → Security + networking → Access keys: rotate the key",
        "https://learn.microsoft.com/azure/storage/common/storage-account-keys-manage",
    ),
    "azure-sas-token": (
        "rotate the storage key that signed it (or revoke its stored access policy)",
        "https://learn.microsoft.com/azure/storage/common/storage-sas-overview",
    ),
    "github-token": (
        "Settings → Developer settings → Personal access tokens: delete the token",
        "https://github.com/settings/tokens",
    ),
    "github-fine-grained-pat": (
        "Settings → Developer settings → Fine-grained tokens: revoke the token",
        "https://github.com/settings/personal-access-tokens",
    ),
    "github-app-installation-token": (
        "installation tokens expire within an hour; revoke now with "
        "DELETE /installation/token or suspend the App's installation",
        "https://docs.github.com/rest/apps/installations#revoke-an-installation-access-token",
    ),
    "gitlab-token": (
        "User settings → Access tokens (or the project's/group's Access tokens): revoke",
        "https://gitlab.com/-/user_settings/personal_access_tokens",
    ),
    "bitbucket-token": (
        "Personal settings → App passwords (or the repository's Access tokens): revoke",
        "https://bitbucket.org/account/settings/app-passwords/",
    ),
    "buildkite-token": (
        "Personal settings → API access tokens: revoke (agent tokens: the cluster's "
        "Agent tokens page)",
        "https://buildkite.com/user/api-access-tokens",
    ),
    "slack-token": (
        "the app's OAuth & Permissions page: revoke tokens (or rotate)",
        "https://api.slack.com/apps",
    ),
    "slack-webhook": (
        "the app's Incoming Webhooks page: remove the webhook",
        "https://api.slack.com/apps",
    ),
    "stripe-key": ("Developers → API keys: roll the key", "https://dashboard.stripe.com/apikeys"),
    "twilio-api-key": (
        "Account → API keys & tokens: delete the key",
        "https://console.twilio.com/us1/account/keys-credentials/api-keys",
    ),
    "twilio-auth-token": (
        "Account → API keys & tokens: promote a secondary auth token",
        "https://console.twilio.com/us1/account/keys-credentials/api-keys",
    ),
    "sendgrid-key": (
        "Settings → API Keys: delete the key",
        "https://app.sendgrid.com/settings/api_keys",
    ),
    "npm-token": (
        "Access Tokens: delete the token (npm token revoke)",
        "https://www.npmjs.com/settings/~/tokens",
    ),
    "pypi-token": (
        "Account settings → API tokens: remove the token",
        "https://pypi.org/manage/account/token/",
    ),
    "dockerhub-token": (
        "Account settings → Personal access tokens: delete the token",
        "https://app.docker.com/settings/personal-access-tokens",
    ),
    "datadog-api-key": (
        "Organization settings → API keys: revoke the key",
        "https://app.datadoghq.com/organization-settings/api-keys",
    ),
    "private-key": ("remove the public key wherever it is trusted, then issue a new pair", None),
    "jwt": ("revoke the session at its issuer (or rotate the issuer's signing key)", None),
    "url-credentials": ("change the password of the account named in the URL", None),
}
DEFAULT_REVOKE = ("rotate the credential where it was issued", None)

# The CI's own tokens: (system, token prefix) → (what it is, the exact setting).
CI_TOKENS: dict[tuple[str, str], tuple[str, str]] = {
    ("github", "ghs_"): (
        "the job's GITHUB_TOKEN (it expires when the job ends, at the latest after 24 h)",
        "limit it with `permissions:` in the workflow, or Settings → Actions → General → "
        "Workflow permissions: “Read repository contents and packages permissions”",
    ),
    ("gitlab", "glcbt-"): (
        "the job's CI_JOB_TOKEN (valid while the job runs)",
        "Settings → CI/CD → Job token permissions: limit which projects it can reach",
    ),
    ("buildkite", "bkaj_"): (
        "the job's BUILDKITE_AGENT_ACCESS_TOKEN (valid while the job runs)",
        "it is redacted by the agent unless `redacted-vars` was overridden: keep "
        "BUILDKITE_AGENT_ACCESS_TOKEN in the agent's `redacted-vars`",
    ),
    ("buildkite", "bkct_"): (
        "a cluster agent token",
        "the cluster's Agent tokens page: revoke it and re-register the agents",
    ),
}

MASKING = {
    "github": "GitHub Actions masks secrets and `::add-mask::` values, printed verbatim, as `***`",
    "gitlab": "GitLab masks variables marked Masked (Settings → CI/CD → Variables) as `[MASKED]`",
    "azure": "Azure Pipelines masks secret variables as `***` when printed verbatim",
    "bitbucket": "Bitbucket masks Secured repository/deployment variables, shown as `$NAME`",
    "buildkite": (
        "the Buildkite agent redacts values of variables matching `redacted-vars` "
        "(*_TOKEN, *_SECRET, *_PASSWORD, *_PRIVATE_KEY, *_ACCESS_KEY…) present when the "
        "job starts, and values added with `buildkite-agent redactor add`"
    ),
}
_TRANSFORMS = re.compile(
    rb"base64 (?:-d|--decode)|\bxxd\b|openssl (?:enc|base64)|\bjq\b|\bprintf\b|\brev\b|"
    rb"\btr \S|\bsed\b|\benvsubst\b|\bcut -|fromJSON|toJSON|\bawk\b"
)
_REDACTED_NAME = re.compile(
    rb"([A-Z][A-Z0-9_]*(?:_PASSWORD|_SECRET|_TOKEN|_PRIVATE_KEY|_ACCESS_KEY|_SECRET_KEY|"
    rb"_CONNECTION_STRING))\s*[:=]\s*['\"]?$"
)


def ci_token(system: str, secret_prefix: str) -> tuple[str, str] | None:
    for (ci, prefix), what in CI_TOKENS.items():
        if ci == system and secret_prefix.startswith(prefix):
            return what
    return None


def advice_for(
    system: str, rule_id: str, raw_secret_prefix: str, data: bytes, start: int, masked: int
) -> Advice:
    """Advice for a finding at byte ``start`` of a job log of ``system``.

    ``raw_secret_prefix`` is the start of the secret (its vendor prefix is enough; the
    caller never passes the whole secret); ``masked`` how many values the CI masked in
    this log.
    """
    revoke, link = REVOKE.get(rule_id, DEFAULT_REVOKE)
    own = ci_token(system, raw_secret_prefix)
    line_start = data.rfind(b"\n", 0, start) + 1
    before = data[max(0, line_start - 2000) : start]
    transform = _TRANSFORMS.findall(b"\n".join(before.split(b"\n")[-10:]))
    seen = f"; a transform ran just before it: `{transform[-1].decode()}`" if transform else ""
    policy = MASKING.get(system, "this CI masks values it knows are secret")
    if own:
        what, setting = own
        return Advice(
            revoke=f"{what}; {setting}",
            link=link,
            masking="yes",
            masking_note=f"{policy}; this is its own token, always masked: it was printed "
            f"through a transform that defeated the masker{seen}",
        )
    name = _REDACTED_NAME.search(data[line_start:start])
    if system == "buildkite" and name:
        variable = name.group(1).decode()
        return Advice(
            revoke=revoke,
            link=link,
            masking="if-secret",
            masking_note=f"{policy}; {variable} matches them, so it was set during the job "
            f"rather than in its environment: register it with `buildkite-agent redactor add`"
            f"{seen}",
        )
    if masked:
        return Advice(
            revoke=revoke,
            link=link,
            masking="if-secret",
            masking_note=f"{policy}; {masked} value(s) were masked in this job, so if this "
            f"one is stored as a secret it was printed through a transform{seen}",
        )
    return Advice(
        revoke=revoke,
        link=link,
        masking="no",
        masking_note=f"{policy}; no value was masked in this job: this one is likely not "
        f"stored as a CI secret (store it as one, so later prints are masked){seen}",
    )
