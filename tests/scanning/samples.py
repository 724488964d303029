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
        ("secret-assignment", f'var dbPassword string = "{rand(20)}"', ""),
        ("secret-assignment", f'props.setProperty("password", "{rand(20)}");', ""),
        ("secret-assignment", f"PASSWORD ?= {rand(20)}", ""),
        ("secret-assignment", f'aws_session_token = "FwoGZXIvYXdzE{rand(704, B62 + "+/")}"', ""),
        ("bearer-token", f"> Authorization: Bearer {rand(40, B62 + '-_')}", ""),
        ("openai-api-key", f"OPENAI_API_KEY=sk-proj-{rand(74)}T3BlbkFJ{rand(74)}", ""),
        ("anthropic-api-key", f"ANTHROPIC_API_KEY=sk-ant-api03-{rand(93, B62 + '-_')}AA", ""),
        ("huggingface-token", f"HF_TOKEN=hf_{rand(34, string.ascii_letters)}", ""),
        ("perplexity-api-key", f"key pplx-{rand(48)}", ""),
        ("groq-api-key", f"key gsk_{rand(52)}", ""),
        ("replicate-api-token", f"key r8_{rand(37)}", ""),
        ("xai-api-key", f"key xai-{rand(80)}", ""),
        ("openrouter-api-key", f"key sk-or-v1-{rand(64, HEX)}", ""),
        ("langsmith-api-key", f"key lsv2_pt_{rand(32, HEX)}_{rand(10, HEX)}", ""),
        ("pinecone-api-key", f"key pcsk_{rand(5)}_{rand(63)}", ""),
        ("sentry-token", f"SENTRY_AUTH_TOKEN=sntryu_{rand(64, HEX)}", ""),
        (
            "newrelic-key",
            f"NEW_RELIC_API_KEY=NRAK-{rand(27, string.ascii_uppercase + string.digits)}",
            "",
        ),
        ("grafana-token", f"GRAFANA_TOKEN=glsa_{rand(32)}_{rand(8, HEX)}", ""),
        (
            "dynatrace-token",
            f"dt0c01.{rand(24, string.ascii_uppercase + string.digits)}.{rand(64, string.ascii_uppercase + string.digits)}",
            "",
        ),
        ("rubygems-api-key", f"GEM_HOST_API_KEY=rubygems_{rand(48, HEX)}", ""),
        (
            "nuget-api-key",
            f"nuget push -k oy2{rand(43, string.ascii_lowercase + string.digits)}",
            "",
        ),
        ("cratesio-token", f"cargo login cio{rand(32)}", ""),
        ("clojars-token", f"CLOJARS_{rand(60, HEX)}", ""),
        ("jfrog-token", f"X-JFrog-Art-Api: AKCp{rand(69)}", ""),
        ("sonar-token", f"-Dsonar.token=sqp_{rand(40, HEX)}", ""),
        ("sonar-token-context", f"SONAR_TOKEN={rand(40, HEX)}", ""),
        ("snyk-token", f"SNYK_TOKEN={uuid()}", ""),
        ("codecov-token", f"CODECOV_TOKEN={uuid()}", ""),
        ("sourcegraph-token", f"SRC_ACCESS_TOKEN=sgp_{rand(16, HEX)}_{rand(40, HEX)}", ""),
        (
            "teams-webhook",
            f"https://acme.webhook.office.com/webhookb2/{uuid()}@{uuid()}/IncomingWebhook/{rand(32, HEX)}/{uuid()}",
            "",
        ),
        (
            "discord-webhook",
            f"https://discord.com/api/webhooks/{rand(19, string.digits)}/{rand(68, B62 + '-_')}",
            "",
        ),
        (
            "telegram-bot-token",
            f"bot{rand(10, string.digits)}:AA{rand(33, B62 + '-_')}/sendMessage",
            "",
        ),
        (
            "google-chat-webhook",
            f"https://chat.googleapis.com/v1/spaces/AAAA{rand(7)}/messages?key=k&token={rand(43, B62 + '-_')}",
            "",
        ),
        ("vault-token", f"VAULT_TOKEN=hvs.{rand(90, B62 + '-_')}", ""),
        (
            "terraform-cloud-token",
            f"token = {rand(14, string.ascii_lowercase + string.digits)}.atlasv1.{rand(67, B62 + '-_')}",
            "",
        ),
        ("pulumi-token", f"PULUMI_ACCESS_TOKEN=pul-{rand(40, HEX)}", ""),
        ("doppler-token", f"DOPPLER_TOKEN=dp.st.prd.{rand(43)}", ""),
        ("digitalocean-token", f"DO=dop_v1_{rand(64, HEX)}", ""),
        ("heroku-token", f"HEROKU_API_KEY=HRKU-AA{rand(58, B62 + '-_')}", ""),
        ("flyio-token", f"FLY_API_TOKEN=fo1_{rand(43, B62 + '-_')}", ""),
        ("netlify-token", f"NETLIFY_AUTH_TOKEN=nfp_{rand(36)}", ""),
        ("render-api-key", f"RENDER_API_KEY=rnd_{rand(32)}", ""),
        ("supabase-token", f"SUPABASE_ACCESS_TOKEN=sbp_{rand(40, HEX)}", ""),
        ("planetscale-token", f"pscale_tkn_{rand(43, B62 + '-_')}", ""),
        ("databricks-token", f"DATABRICKS_TOKEN=dapi{rand(32, HEX)}", ""),
        ("shopify-token", f"shpat_{rand(32, HEX)}", ""),
        ("postman-api-key", f"PMAK-{rand(24, HEX)}-{rand(34, HEX)}", ""),
        ("linear-api-key", f"lin_api_{rand(40)}", ""),
        ("notion-token", f"NOTION_TOKEN=ntn_{rand(46)}", ""),
        ("age-secret-key", AGE_KEY, AGE_KEY),
        ("onepassword-token", f"OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ{rand(300, B62 + '-_')}", ""),
        ("figma-token", f"figd_{rand(40, B62 + '-_')}", ""),
        ("hubspot-token", f"pat-na1-{uuid()}", ""),
        ("circleci-token", f"CCIPAT_{rand(22)}_{rand(40, HEX)}", ""),
        ("alibaba-access-key", f"LTAI{rand(20)}", ""),
        ("mapbox-secret-token", f"sk.eyJ{rand(60, B62 + '-_')}.{rand(22, B62 + '-_')}", ""),
        ("google-oauth", f"client_secret GOCSPX-{rand(28, B62 + '-_')}", ""),
        ("azure-ad-client-secret", f"AZURE_CLIENT_SECRET={rand(3)}8Q~{rand(34, B62 + '_~.-')}", ""),
        ("azure-devops-pat", f"AZDO_PAT={rand(52)}JQQJ99{rand(18)}AZDO{rand(4)}", ""),
        ("square-token", f"sq0atp-{rand(22, B62 + '-_')}", ""),
        ("stripe-webhook-secret", f"whsec_{rand(32)}", ""),
        ("mailgun-api-key", f"api:key-{rand(32, HEX)}", ""),
    ]
    return cases


HEX = "0123456789abcdef"
# age-keygen's documented output format; this one is a throwaway key made for the tests.
AGE_KEY = "AGE-SECRET-KEY-1QQQSYQCYQ5RQWZQFPG9SCRGWPUGPZYSNZS23V9CCRYDPK8QARC0SWRYDWG"


def uuid() -> str:
    h = rand(32, HEX)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


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
