"""A realistic build-log corpus with an answer key, for the secret-scan benchmark.

CI output of several ecosystems (npm, pip, Maven, Go, Docker, Terraform,
pytest), base64 blobs, hashes and UUIDs, Buildkite timestamp markers and ANSI
colours, with planted fake but format-valid secrets of every rule family, and
hard negatives (documented example keys, masked values, variable references,
digests). Each planted secret is recorded with its line in the answer key.
The seed decides everything; the benchmark reports a seed it was not tuned on.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass

from cievents.scanning.validate import github_style_token

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Planted:
    family: str
    line: int
    secret: str


def _r(rng: random.Random, n: int, alphabet: str = B62) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'RS256', 'typ': 'JWT'})}.{seg({'sub': _r(rng, 10), 'exp': 1900000000})}.{_r(rng, 86, B62 + '-_')}"


def secrets(rng: random.Random) -> list[tuple[str, str, str]]:
    """(family, line template with {s}, secret) — one of each family."""
    aws = "AKIA" + _r(rng, 16, string.ascii_uppercase + "234567")
    return [
        ("aws", "export AWS_ACCESS_KEY_ID={s}", aws),
        ("aws", "aws_secret_access_key = {s}", _r(rng, 40, B62 + "/+")),
        ("gcp", '  "private_key_id": "{s}",', _r(rng, 40, HEX)),
        ("gcp", "GOOGLE_MAPS_KEY={s}", "AIza" + _r(rng, 35, B62 + "_-")),
        (
            "azure",
            "AZ=DefaultEndpointsProtocol=https;AccountName=ci;AccountKey={s};EndpointSuffix=core.windows.net",
            base64.b64encode(rng.randbytes(64)).decode(),
        ),
        ("github", "remote: using {s}", github_style_token("ghp_", _r(rng, 30))),
        ("github", "GH_PAT={s}", "github_pat_" + _r(rng, 22) + "_" + _r(rng, 59)),
        ("gitlab", "CI_PUSH_TOKEN {s}", "glpat-" + _r(rng, 20, B62 + "_-")),
        ("bitbucket", "bb token {s}", "ATBB" + _r(rng, 28) + _r(rng, 8, "0123456789ABCDEF")),
        ("buildkite", "BUILDKITE_AGENT_ACCESS_TOKEN={s}", "bkaj_" + _r(rng, 40)),
        (
            "buildkite",
            "curl -H 'Authorization: Bearer {s}' https://api.buildkite.com/v2/builds",
            "bkua_" + _r(rng, 40),
        ),
        (
            "slack",
            "SLACK={s}",
            f"xoxb-{_r(rng, 12, string.digits)}-{_r(rng, 13, string.digits)}-{_r(rng, 24)}",
        ),
        (
            "slack",
            "posting to {s}",
            f"https://hooks.slack.com/services/T{_r(rng, 8, string.ascii_uppercase + string.digits)}/B{_r(rng, 10, string.ascii_uppercase + string.digits)}/{_r(rng, 24)}",
        ),
        ("stripe", "STRIPE_KEY={s}", "sk_live_" + _r(rng, 32)),
        ("twilio", "twilio sid {s}", "SK" + _r(rng, 32, HEX)),
        ("sendgrid", "SENDGRID={s}", f"SG.{_r(rng, 22, B62 + '_-')}.{_r(rng, 43, B62 + '_-')}"),
        ("npm", "//registry.npmjs.org/:_authToken={s}", github_style_token("npm_", _r(rng, 30))),
        ("pypi", "TWINE_PASSWORD={s}", "pypi-AgEIcHlwaS5vcmc" + _r(rng, 80, B62 + "_-")),
        (
            "dockerhub",
            "echo {s} | docker login -u ci --password-stdin",
            "dckr_pat_" + _r(rng, 27, B62 + "_-"),
        ),
        ("datadog", "DD_API_KEY={s}", _r(rng, 32, HEX)),
        ("jwt", "Authorization: Bearer {s}", _jwt(rng)),
        (
            "url-credentials",
            "git clone https://ci-bot:{s}@git.internal.example/app.git",
            _r(rng, 20),
        ),
        ("assignment", "DATABASE_PASSWORD={s}", _r(rng, 18) + "#7"),
    ]


NEGATIVES = [
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
    "NPM_TOKEN=$NPM_TOKEN",
    "password: ********",
    "API_KEY=<your-api-key-here>",
    "SECRET_KEY_BASE=changeme-in-production",
    "TOKEN_ENDPOINT=https://oauth2.googleapis.com/token",
    "postgres://app:${DB_PASSWORD}@db:5432/app",
    "https://user:****@registry.example.com",
]


def _noise(rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return f"npm http fetch GET 200 https://registry.npmjs.org/{_r(rng, 8, string.ascii_lowercase)} {rng.randint(5, 900)}ms (cache hit)"
    if kind == 1:
        return f"Collecting {_r(rng, 7, string.ascii_lowercase)}=={rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)} (from -r requirements.txt (line {rng.randint(1, 80)}))"
    if kind == 2:
        return f"[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/{_r(rng, 6, string.ascii_lowercase)}/{rng.randint(1, 5)}.{rng.randint(0, 9)}/x.jar ({rng.randint(1, 900)} kB at {rng.randint(1, 9)}.{rng.randint(0, 9)} MB/s)"
    if kind == 3:
        return f"go: downloading github.com/{_r(rng, 6, string.ascii_lowercase)}/{_r(rng, 8, string.ascii_lowercase)} v{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    if kind == 4:
        return f"#{rng.randint(1, 30)} sha256:{_r(rng, 64, HEX)} {rng.randint(1, 99)}.{rng.randint(0, 9)}MB / {rng.randint(100, 300)}MB"
    if kind == 5:
        return f"module.vpc.aws_subnet.private[{rng.randint(0, 5)}]: Refreshing state... [id=subnet-{_r(rng, 17, HEX)}]"
    if kind == 6:
        return f"tests/test_{_r(rng, 6, string.ascii_lowercase)}.py::test_{_r(rng, 10, string.ascii_lowercase)} PASSED [{rng.randint(1, 99)}%]"
    if kind == 7:
        return f"request_id={uuid.UUID(int=rng.getrandbits(128))} trace={_r(rng, 32, HEX)} duration_ms={rng.randint(1, 999)}"
    if kind == 8:
        return f"artifact {_r(rng, 10, string.ascii_lowercase)}.tar.gz md5={_r(rng, 32, HEX)} sha1={_r(rng, 40, HEX)}"
    if kind == 9:
        return f"blob: {base64.b64encode(rng.randbytes(rng.randint(30, 90))).decode()}"
    if kind == 10:
        return f"commit {_r(rng, 40, HEX)} Merge pull request #{rng.randint(1, 9999)} from acme/{_r(rng, 8, string.ascii_lowercase)}"
    return f"\x1b[32m✓\x1b[0m {_r(rng, 12, string.ascii_lowercase)} built in {rng.randint(1, 90)}.{rng.randint(0, 99)}s"


def generate(seed: int, megabytes: float) -> tuple[str, list[Planted]]:
    rng = random.Random(seed)
    lines: list[str] = []
    planted: list[Planted] = []
    target = int(megabytes * 1024 * 1024)
    size = 0
    stamp = 1700000000000
    while size < target:
        roll = rng.random()
        if roll < 0.0015:
            family, template, secret = rng.choice(secrets(rng))
            text = template.replace("{s}", secret)
            planted.append(Planted(family, len(lines) + 1, secret))
        elif roll < 0.003:
            text = rng.choice(NEGATIVES)
        else:
            text = _noise(rng)
        stamp += rng.randint(1, 400)
        line = f"\x1b_bk;t={stamp}\x07{text}"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n", planted
