"""A realistic Buildkite build-log corpus with an answer key, for the secret-scan benchmark.

Every line carries the agent's real timestamp marker (``ESC _bk;t=<ms> BEL``);
the content is CI output of many ecosystems (npm, pip, Maven, Gradle, Go,
Cargo, Docker, Terraform, kubectl, pytest, Jest), colour codes, base64 blobs,
hashes, digests and UUIDs. Into it go:

* planted secrets: fake but format-valid credentials of every rule family, in
  the places they really leak (env dumps, ``set -x`` traces, curl headers, JSON,
  YAML, clone URLs, config echoes), private keys spanning lines;
* lures: hard negatives of the same families, the things a careful scanner must
  not report: vendors' documented example keys, CI masks (``***``), variable
  references and templates, public keys and certificates, setting names
  without a value.

The answer key records each planted secret's family and line span, and each
lure's family and line, so precision is measured per family and on plain CI
noise. The seed decides everything; the benchmark's default seed was not used
to tune rules.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cievents.scanning.validate import github_style_token

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits
SECRET_RATE = 0.004
LURE_RATE = 0.004


@dataclass(frozen=True)
class Planted:
    family: str
    line: int
    end_line: int
    secret: str


@dataclass(frozen=True)
class Lure:
    family: str
    line: int


@dataclass(frozen=True)
class Corpus:
    text: str
    planted: list[Planted]
    lures: list[Lure]


def _r(rng: random.Random, n: int, alphabet: str = B62) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _jwt(rng: random.Random, alg: str = "RS256") -> str:
    claims = {"sub": _r(rng, 10), "iss": "https://auth.acme.dev", "exp": 1900000000}
    return f"{_b64url({'alg': alg, 'typ': 'JWT'})}.{_b64url(claims)}.{_r(rng, 86, B62 + '-_')}"


def _pem(rng: random.Random, kind: str) -> str:
    body = base64.b64encode(rng.randbytes(rng.choice((600, 900, 1200)))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"])


Maker = Callable[[random.Random], tuple[str, str]]  # -> (text, secret)


def _secret_makers() -> list[tuple[str, Maker]]:
    """(family, maker): the text to plant (one or more lines) and the secret in it."""

    def aws_id(rng: random.Random) -> tuple[str, str]:
        s = "AKIA" + _r(rng, 16, string.ascii_uppercase + "234567")
        return rng.choice(["+ export AWS_ACCESS_KEY_ID={s}", "aws_access_key_id = {s}"]), s

    def aws_secret(rng: random.Random) -> tuple[str, str]:
        s = _r(rng, 40, B62 + "/+")
        return rng.choice(["+ export AWS_SECRET_ACCESS_KEY={s}", "aws_secret_access_key = {s}"]), s

    def gcp_sa(rng: random.Random) -> tuple[str, str]:
        s = _r(rng, 40, HEX)
        return '  "private_key_id": "{s}",', s

    def gcp_key(rng: random.Random) -> tuple[str, str]:
        s = "AIza" + _r(rng, 35, B62 + "_-")
        return rng.choice(
            ["GOOGLE_MAPS_KEY={s}", "curl 'https://maps.googleapis.com/x?key={s}'"]
        ), s

    def azure_key(rng: random.Random) -> tuple[str, str]:
        s = base64.b64encode(rng.randbytes(64)).decode()
        return (
            "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=ci;"
            "AccountKey={s};EndpointSuffix=core.windows.net"
        ), s

    def azure_sas(rng: random.Random) -> tuple[str, str]:
        s = _r(rng, 43, B62) + "%3D"
        return (
            "Uploading to https://acmeci.blob.core.windows.net/artifacts/app.tgz?sv=2022-11-02"
            "&ss=b&srt=o&sp=rwc&se=2026-12-01T00:00:00Z&sig={s}"
        ), s

    def github_classic(rng: random.Random) -> tuple[str, str]:
        s = github_style_token(rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]), _r(rng, 30))
        return rng.choice(
            [
                "remote: using {s}",
                "+ curl -H 'Authorization: token {s}' https://api.github.com/user",
                "GITHUB_TOKEN={s}",
            ]
        ), s

    def github_fine(rng: random.Random) -> tuple[str, str]:
        s = "github_pat_" + _r(rng, 22) + "_" + _r(rng, 59)
        return "GH_PAT={s}", s

    def github_app(rng: random.Random) -> tuple[str, str]:
        jwt = _jwt(rng)
        s = f"ghs_{rng.randint(100000, 9999999)}_{jwt}" if rng.random() < 0.5 else f"ghs_{jwt}"
        return "+ git config http.extraheader 'AUTHORIZATION: bearer {s}'", s

    def gitlab(rng: random.Random) -> tuple[str, str]:
        prefix = rng.choice(["glpat-", "gldt-", "glrt-", "glcbt-", "glptt-"])
        body = _r(rng, 20, B62 + "_-")
        if rng.random() < 0.5:  # a routable token: longer payload, version, checksum
            body = f"{_r(rng, rng.randint(37, 120), B62 + '_-')}.01.{_r(rng, 9)}"
        return rng.choice(["CI_PUSH_TOKEN {s}", "PRIVATE-TOKEN: {s}"]), prefix + body

    def bitbucket(rng: random.Random) -> tuple[str, str]:
        if rng.random() < 0.5:
            return "BITBUCKET_APP_PASSWORD {s}", "ATBB" + _r(rng, 28) + _r(
                rng, 8, "0123456789ABCDEF"
            )
        return "ATLASSIAN_API_TOKEN {s}", "ATATT3" + _r(rng, 186, B62 + "_-=")

    def buildkite(rng: random.Random) -> tuple[str, str]:
        org = base64.b64encode(str(rng.randint(1, 99)).encode()).decode().rstrip("=")
        s = rng.choice(
            [
                f"bkua_{org}.{_r(rng, 40, HEX)}",  # API access token
                f"bkaa_{org}.{_r(rng, 70)}",  # agent session token
                f"bkct_{org}.{_r(rng, 44, B62)}",  # cluster agent token
                "bkaj_" + _jwt(rng, "HS512"),  # the job token every job has
                "bkat_" + _r(rng, 40),
            ]
        )
        return rng.choice(
            [
                "BUILDKITE_AGENT_ACCESS_TOKEN={s}",
                "+ curl -H 'Authorization: Bearer {s}' https://api.buildkite.com/v2/builds",
            ]
        ), s

    def slack_token(rng: random.Random) -> tuple[str, str]:
        s = f"xoxb-{_r(rng, 12, string.digits)}-{_r(rng, 13, string.digits)}-{_r(rng, 24)}"
        return rng.choice(["SLACK_BOT_TOKEN={s}", '{{"token": "{s}", "channel": "#ci"}}']), s

    def slack_webhook(rng: random.Random) -> tuple[str, str]:
        s = (
            f"https://hooks.slack.com/services/T{_r(rng, 8, UPPER_DIGITS)}"
            f"/B{_r(rng, 10, UPPER_DIGITS)}/{_r(rng, 24)}"
        )
        return "+ curl -X POST --data @payload.json {s}", s

    def stripe(rng: random.Random) -> tuple[str, str]:
        return "STRIPE_SECRET_KEY={s}", rng.choice(["sk_live_", "rk_live_"]) + _r(rng, 32)

    def twilio_sid(rng: random.Random) -> tuple[str, str]:
        return "twilio api key sid {s}", "SK" + _r(rng, 32, HEX)

    def twilio_token(rng: random.Random) -> tuple[str, str]:
        return "TWILIO_AUTH_TOKEN={s}", _r(rng, 32, HEX)

    def sendgrid(rng: random.Random) -> tuple[str, str]:
        return "SENDGRID_API_KEY={s}", f"SG.{_r(rng, 22, B62 + '_-')}.{_r(rng, 43, B62 + '_-')}"

    def npm(rng: random.Random) -> tuple[str, str]:
        return "//registry.npmjs.org/:_authToken={s}", github_style_token("npm_", _r(rng, 30))

    def pypi(rng: random.Random) -> tuple[str, str]:
        return "TWINE_PASSWORD={s}", "pypi-AgEIcHlwaS5vcmc" + _r(rng, 80, B62 + "_-")

    def dockerhub(rng: random.Random) -> tuple[str, str]:
        s = "dckr_pat_" + _r(rng, 27, B62 + "_-")
        return "+ echo {s} | docker login -u ci --password-stdin", s

    def datadog(rng: random.Random) -> tuple[str, str]:
        return rng.choice(["DD_API_KEY={s}", "datadog_api_key: {s}"]), _r(rng, 32, HEX)

    def private_key(rng: random.Random) -> tuple[str, str]:
        kind = rng.choice(
            ["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"]
        )
        s = _pem(rng, kind)
        return "{s}", s

    def jwt(rng: random.Random) -> tuple[str, str]:
        return "Authorization: Bearer {s}", _jwt(rng)

    def url_credentials(rng: random.Random) -> tuple[str, str]:
        s = _r(rng, 20)
        return rng.choice(
            [
                "+ git clone https://ci-bot:{s}@git.internal.acme.dev/app.git",
                "DATABASE_URL=postgres://app:{s}@db.internal:5432/app",
            ]
        ), s

    def assignment(rng: random.Random) -> tuple[str, str]:
        s = _r(rng, 18) + rng.choice(["#7", "!x", "%2"])
        return rng.choice(
            ["DATABASE_PASSWORD={s}", "REDIS_PASSWORD: {s}", "+ export SIGNING_SECRET={s}"]
        ), s

    return [
        ("aws", aws_id),
        ("aws", aws_secret),
        ("gcp", gcp_sa),
        ("gcp", gcp_key),
        ("azure", azure_key),
        ("azure", azure_sas),
        ("github", github_classic),
        ("github", github_fine),
        ("github", github_app),
        ("gitlab", gitlab),
        ("bitbucket", bitbucket),
        ("buildkite", buildkite),
        ("slack", slack_token),
        ("slack", slack_webhook),
        ("stripe", stripe),
        ("twilio", twilio_sid),
        ("twilio", twilio_token),
        ("sendgrid", sendgrid),
        ("npm", npm),
        ("pypi", pypi),
        ("dockerhub", dockerhub),
        ("datadog", datadog),
        ("private-key", private_key),
        ("jwt", jwt),
        ("url-credentials", url_credentials),
        ("assignment", assignment),
    ]


def _format_makers(
    covered: set[str],
) -> list[tuple[str, Callable[[random.Random], tuple[str, str]]]]:
    """The families the makers above do not cover, from bench/secret_formats.py's
    vendor-format samples: one line each, picked by the corpus's own random stream."""
    from bench.secret_formats import samples

    pool: dict[str, list[str]] = {}
    for sample in samples(FORMAT_POOL_SEED):
        usable = "\n" not in sample.text and "{" not in sample.text and "}" not in sample.text
        if sample.positive and sample.family not in covered and usable:
            pool.setdefault(sample.family, []).append(sample.text)

    def maker(texts: list[str]) -> Callable[[random.Random], tuple[str, str]]:
        return lambda rng: ("{s}", rng.choice(texts))

    return [(family, maker(texts)) for family, texts in sorted(pool.items())]


FORMAT_POOL_SEED = 4242
SECRET_MAKERS = _secret_makers()
SECRET_MAKERS += _format_makers({family for family, _ in SECRET_MAKERS} | {"encoded"})

# Hard negatives, by the family a scanner would wrongly report them under.
LURES: list[tuple[str, str]] = [
    ("aws", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    ("aws", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("aws", "+ export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY}"),
    ("aws", "aws_secret_access_key = ****************************************"),
    ("github", "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}"),
    ("github", "+ curl -H 'Authorization: token ***' https://api.github.com/user"),
    ("github", "remote: using ghp_************************************"),
    ("npm", "NPM_TOKEN=$NPM_TOKEN"),
    ("npm", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}"),
    ("slack", "SLACK_WEBHOOK_URL: ${{ secrets.SLACK_WEBHOOK_URL }}"),
    ("slack", "SLACK_BOT_TOKEN=xoxb-your-token-here"),
    ("stripe", "STRIPE_SECRET_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    ("datadog", "DD_API_KEY=${DD_API_KEY:?missing}"),
    ("assignment", "password: ********"),
    ("assignment", "API_KEY=<your-api-key-here>"),
    ("assignment", "SECRET_KEY_BASE=changeme-in-production"),
    ("assignment", "TOKEN_ENDPOINT=https://oauth2.googleapis.com/token"),
    ("assignment", "PASSWORD_MIN_LENGTH=12"),
    ("assignment", "SECRET_NAME=prod-db-password"),
    ("assignment", "client_secret: {{ .Values.oauth.clientSecret }}"),
    ("assignment", "Fetching token: done (cached)"),
    ("url-credentials", "postgres://app:${DB_PASSWORD}@db:5432/app"),
    ("url-credentials", "https://user:****@registry.example.com"),
    ("url-credentials", "Cloning into 'app'... git@github.com:acme/app.git"),
    ("jwt", "JWT_AUDIENCE=https://api.acme.dev  JWT_ISSUER=https://auth.acme.dev"),
]


def _lure(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.15:
        kind = rng.choice(["PUBLIC KEY", "CERTIFICATE"])
        return "private-key", _pem(rng, kind)
    return rng.choice(LURES)


def _v(rng: random.Random) -> str:
    return f"{rng.randint(0, 3)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}"


def _b64(rng: random.Random, low: int, high: int) -> str:
    return base64.b64encode(rng.randbytes(rng.randint(low, high))).decode()


# CI output, one line maker per ecosystem: (rng, a random word) -> line
NOISE: list[Callable[[random.Random, str], str]] = [
    lambda rng,
    w: f"npm http fetch GET 200 https://registry.npmjs.org/{w} {rng.randint(5, 900)}ms (cache hit)",
    lambda rng,
    w: f"Collecting {w}=={_v(rng)} (from -r requirements.txt (line {rng.randint(1, 80)}))",
    lambda rng,
    w: f"[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/{w}/{_v(rng)}/x.jar ({rng.randint(1, 900)} kB at {rng.randint(1, 9)}.{rng.randint(0, 9)} MB/s)",
    lambda rng,
    w: f"go: downloading github.com/{w}/{_r(rng, 8, string.ascii_lowercase)} v{_v(rng)}",
    lambda rng,
    w: f"#{rng.randint(1, 30)} sha256:{_r(rng, 64, HEX)} {rng.randint(1, 99)}.{rng.randint(0, 9)}MB / {rng.randint(100, 300)}MB",
    lambda rng,
    w: f"module.vpc.aws_subnet.private[{rng.randint(0, 5)}]: Refreshing state... [id=subnet-{_r(rng, 17, HEX)}]",
    lambda rng,
    w: f"tests/test_{w}.py::test_{_r(rng, 10, string.ascii_lowercase)} \x1b[32mPASSED\x1b[0m [{rng.randint(1, 99)}%]",
    lambda rng,
    w: f"request_id={uuid.UUID(int=rng.getrandbits(128))} trace={_r(rng, 32, HEX)} duration_ms={rng.randint(1, 999)}",
    lambda rng, w: f"artifact {w}.tar.gz md5={_r(rng, 32, HEX)} sha1={_r(rng, 40, HEX)}",
    lambda rng, w: f"blob: {_b64(rng, 30, 90)}",
    lambda rng,
    w: f"commit {_r(rng, 40, HEX)} Merge pull request #{rng.randint(1, 9999)} from acme/{w}",
    lambda rng, w: f'"integrity": "sha512-{_b64(rng, 64, 64)}",',
    lambda rng,
    w: f"  # aws_iam_access_key.{w} will be created\n      + secret = (sensitive value)",
    lambda rng, w: f"\x1b[1m\x1b[34m==>\x1b[0m Compiling {w} v{_v(rng)}",
    lambda rng,
    w: f"pod/{w}-{_r(rng, 10, HEX[:10])}-{_r(rng, 5, string.ascii_lowercase)} condition met",
    lambda rng, w: f" PASS  src/{w}.test.ts ({rng.randint(1, 9)}.{rng.randint(100, 999)} s)",
    lambda rng,
    w: f"Step {rng.randint(1, 20)}/20 : RUN pip install --no-cache-dir {w}  ---> Using cache  ---> {_r(rng, 12, HEX)}",
    lambda rng, w: f"\x1b[32m✓\x1b[0m {w} built in {rng.randint(1, 90)}.{rng.randint(0, 99)}s",
]


def _noise(rng: random.Random) -> str:
    make = NOISE[rng.randrange(len(NOISE))]
    return make(rng, _r(rng, rng.randint(4, 10), string.ascii_lowercase))


def generate(seed: int, megabytes: float) -> Corpus:
    rng = random.Random(seed)
    lines: list[str] = []
    planted: list[Planted] = []
    lures: list[Lure] = []
    target = int(megabytes * 1024 * 1024)
    size = 0
    stamp = 1700000000000
    while size < target:
        roll = rng.random()
        first = len(lines) + 1
        if roll < SECRET_RATE:
            family, maker = rng.choice(SECRET_MAKERS)
            template, secret = maker(rng)
            text = template.replace("{s}", secret).replace("{{", "{").replace("}}", "}")
            planted.append(Planted(family, first, first + text.count("\n"), secret))
        elif roll < SECRET_RATE + LURE_RATE:
            family, text = _lure(rng)
            lures.extend(Lure(family, first + i) for i in range(text.count("\n") + 1))
        else:
            text = _noise(rng)
        for part in text.split("\n"):
            stamp += rng.randint(1, 400)
            line = f"\x1b_bk;t={stamp}\x07{part}"
            lines.append(line)
            size += len(line) + 1
    return Corpus("\n".join(lines) + "\n", planted, lures)
