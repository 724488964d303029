"""Fake, format-valid credentials built at test time (never real ones), and hard negatives."""

from __future__ import annotations

import base64
import json
import random
import string

from cievents.scanning.validate import github_style_token

rng = random.Random(7)
B62 = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = B62) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def jwt() -> str:
    def seg(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'HS256', 'typ': 'JWT'})}.{seg({'sub': rand(12), 'iat': 1700000000})}.{rand(43, B62 + '-_')}"


def pem() -> str:
    body = "\n".join(rand(64, B62 + "+/") for _ in range(6))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def positives() -> list[tuple[str, str, str]]:
    """(rule id, line of text, the secret in it)."""
    aws_id = "AKIA" + rand(16, string.ascii_uppercase + "234567")
    aws_secret = rand(40, B62 + "/+")
    gh = github_style_token("ghp_", rand(30))
    npm = github_style_token("npm_", rand(30))
    azure = base64.b64encode(rng.randbytes(64)).decode()
    cases = [
        ("aws-access-key-id", f"export AWS_ACCESS_KEY_ID={aws_id}", aws_id),
        ("aws-secret-access-key", f"aws_secret_access_key = {aws_secret}", aws_secret),
        ("gcp-api-key", f"key=AIza{rand(35, B62 + '_-')}", ""),
        ("gcp-service-account-key", f'"private_key_id": "{rand(40, "0123456789abcdef")}",', ""),
        (
            "azure-storage-key",
            f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={azure};",
            azure,
        ),
        ("github-token", f"Using token {gh} for the API", gh),
        ("github-fine-grained-pat", f"GH={'github_pat_' + rand(22) + '_' + rand(59)}", ""),
        ("github-app-installation-token", f"token ghs_12345_{jwt()}", ""),
        ("github-app-installation-token", f"Authorization: token ghs_{jwt()}", ""),
        ("gitlab-token", f"glpat-{rand(20, B62 + '_-')}", ""),
        ("gitlab-token", f"PRIVATE-TOKEN: glpat-{rand(60, B62 + '_-')}.01.{rand(9)}", ""),
        ("bitbucket-token", f"ATBB{rand(28)}{rand(8, '0123456789ABCDEF')}", ""),
        ("buildkite-token", f"BUILDKITE_AGENT_ACCESS_TOKEN=bkaj_{rand(40)}", ""),
        ("buildkite-token", f"curl -H 'Authorization: Bearer bkua_{rand(40)}'", ""),
        # today's formats: an organization id before a dot, and the job token, a JWT
        (
            "buildkite-token",
            f"export BUILDKITE_API_TOKEN=bkua_MTA.{rand(40, '0123456789abcdef')}",
            "",
        ),
        ("buildkite-token", f"BUILDKITE_AGENT_ACCESS_TOKEN=bkaj_{jwt()}", ""),
        ("buildkite-token", f"--acquire-job bkjat_{jwt()}", ""),
        ("buildkite-token", f"token=bkaa_MTA.{rand(70)}", ""),
        ("slack-token", f"xoxb-{rand(11, string.digits)}-{rand(12, string.digits)}-{rand(24)}", ""),
        (
            "slack-webhook",
            f"https://hooks.slack.com/services/T{rand(8, string.ascii_uppercase + string.digits)}/B{rand(9, string.ascii_uppercase + string.digits)}/{rand(24)}",
            "",
        ),
        ("stripe-key", f"STRIPE=sk_live_{rand(24)}", ""),
        ("stripe-key", f"STRIPE=sk_live_51{rand(105)}", ""),  # today's longer keys
        ("slack-token", f"SLACK_TOKEN=xoxe.xoxp-1-{rand(140, B62 + '-')}", ""),  # rotating
        ("slack-token", f"refresh_token=xoxe-1-{rand(120, B62 + '-')}", ""),
        ("twilio-api-key", f"sid SK{rand(32, '0123456789abcdef')}", ""),
        ("twilio-auth-token", f"TWILIO_AUTH_TOKEN={rand(32, '0123456789abcdef')}", ""),
        (
            "azure-sas-token",
            f"https://acme.blob.core.windows.net/c/f?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01&sig={rand(43, B62 + '%')}",
            "",
        ),
        ("sendgrid-key", f"SG.{rand(22, B62 + '_-')}.{rand(43, B62 + '_-')}", ""),
        ("npm-token", f"//registry.npmjs.org/:_authToken={npm}", npm),
        ("pypi-token", f"password: pypi-AgEIcHlwaS5vcmc{rand(70, B62 + '_-')}", ""),
        ("dockerhub-token", f"docker login -p dckr_pat_{rand(27, B62 + '_-')}", ""),
        ("datadog-api-key", f"DD_API_KEY={rand(32, '0123456789abcdef')}", ""),
        ("private-key", pem(), ""),
        ("jwt", f"Authorization: Bearer {jwt()}", ""),
        ("url-credentials", f"git clone https://deploy:{rand(16)}@git.example.com/repo.git", ""),
        ("secret-assignment", f"DB_PASSWORD={rand(14)}!9", ""),
    ]
    return cases


NEGATIVES = [
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",  # AWS's documented example
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
    "password: ********",
    "DB_PASSWORD=$DB_PASSWORD",
    "API_KEY=<your-api-key>",
    "token: changeme123",
    "ghp_" + "a" * 36,  # right shape, wrong checksum
    "sha256:" + "ab" * 32,
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "SECRET_NAME=prod-db-password",
    "TOKEN_URL=https://auth.example.com/token",
    "PASSWORD_MIN_LENGTH=12",
    "postgres://user:$PGPASSWORD@db:5432/app",
    "https://user:****@example.com",
    "npm_" + "b" * 36,
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "eyJhbGciOi.notajwt.atall",
]
