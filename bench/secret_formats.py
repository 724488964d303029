"""Token samples built from the vendors' published formats, not from our rules.

Every generator below follows a vendor's documented (or, for the few with no
documentation, its observed) issued form: prefix, alphabet, length and, where
the format has one, the checksum (GitHub and npm: base62 CRC32 of the payload;
age: bech32). None of it imports ``cievents.scanning``: a sample written from a
rule's own regex would only prove the regex matches itself. The checksum
helpers here are written from the vendors' descriptions, separately from the
scanner's.

Each sample is a short text in the place such a secret leaks (an env dump, a
``set -x`` trace, a curl header, JSON, YAML, HCL, source code), with the
family it belongs to; *negatives* are the same places holding what is not a
secret: documented example keys, placeholders, masks, variable references,
tokens with a broken checksum, code that names a credential without holding
one. ``samples(seed)`` is deterministic; the benchmark reports a seed the
rules were tuned on and a held-out one, side by side.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HELD_OUT_SEED", "TUNE_SEED", "Sample", "samples"]

TUNE_SEED = 1
HELD_OUT_SEED = 20261201
B62 = string.ascii_letters + string.digits
B64URL = B62 + "-_"
B64 = B62 + "+/"
HEX = "0123456789abcdef"
UPPER_HEX = "0123456789ABCDEF"
BASE32 = string.ascii_uppercase + "234567"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@dataclass(frozen=True)
class Sample:
    family: str
    text: str  # one or more lines
    positive: bool
    note: str = ""


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def s(self, n: int, alphabet: str = B62) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def digits(self, n: int) -> str:
        return str(self.rng.randint(1, 9)) + self.s(n - 1, string.digits)

    def uuid(self) -> str:
        h = self.s(32, HEX)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def b64url_bytes(self, n: int) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(n)).decode().rstrip("=")


def _b62(number: int, width: int) -> str:
    out = ""
    while number:
        number, rest = divmod(number, 62)
        out = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[rest] + out
    return out.rjust(width, "0")


def _crc_token(prefix: str, payload: str) -> str:
    """GitHub's and npm's form: 30 random base62 characters, then their CRC32 in base62."""
    return prefix + payload + _b62(zlib.crc32(payload.encode()), 6)


def _bech32_polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def _age_secret_key(g: _Gen) -> str:
    """age's X25519 identity: bech32, HRP ``age-secret-key-``, 32 bytes, upper-cased."""
    hrp = "age-secret-key-"
    data5, acc, bits = [], 0, 0
    for byte in g.rng.randbytes(32):
        acc, bits = acc << 8 | byte, bits + 8
        while bits >= 5:
            bits -= 5
            data5.append(acc >> bits & 31)
    if bits:
        data5.append(acc << (5 - bits) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _bech32_polymod(expanded + data5 + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return (hrp + "1" + "".join(BECH32[d] for d in data5 + checksum)).upper()


def _jwt(g: _Gen, alg: str = "HS256") -> str:
    def seg(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = seg({"alg": alg, "typ": "JWT"})
    claims = seg({"sub": g.s(10), "iat": 1764547200, "scope": "deploy"})
    signature = "" if alg == "none" else g.b64url_bytes(32)
    return f"{header}.{claims}.{signature}"


def _crc24(data: bytes) -> int:
    """OpenPGP's armor checksum (RFC 4880, 6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _pem_keys(g: _Gen) -> list[tuple[str, str]]:
    """Real keys from ``cryptography`` (every PEM and OpenSSH flavour), plus armored PGP."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    none = ser.NoEncryption()
    keys = [
        (
            "rsa",
            rsa_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, none),
        ),
        ("pkcs8", ec_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, none)),
        ("ec", ec_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, none)),
        ("openssh", ed_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, none)),
        (
            "encrypted",
            ec_key.private_bytes(
                ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.BestAvailableEncryption(b"pw")
            ),
        ),
    ]
    out = [(name, pem.decode().strip()) for name, pem in keys]
    # An OpenPGP transferable secret key: a secret-key packet (tag 5, new format) with a
    # random body, armored with its CRC24 line.
    body = bytes([0xC5, 0x58, 0x04]) + g.rng.randbytes(87)
    armored = base64.b64encode(body).decode()
    lines = [armored[i : i + 64] for i in range(0, len(armored), 64)]
    crc = base64.b64encode(_crc24(body).to_bytes(3, "big")).decode()
    pgp = "\n".join(
        [
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "",
            *lines,
            "=" + crc,
            "-----END PGP PRIVATE KEY BLOCK-----",
        ]
    )
    out.append(("pgp", pgp))
    return out


# Where secrets leak: each takes (NAME, value) and renders one line.
_PLACES: tuple[Callable[[str, str], str], ...] = (
    lambda n, v: f"export {n}={v}",
    lambda n, v: f"+ {n}={v}",
    lambda n, v: f'  "{n.lower()}": "{v}",',
    lambda n, v: f"{n.lower()}: {v}",
    lambda n, v: f"2026-12-01T10:00:00.1234567Z {n}={v}",
    lambda n, v: f"env:\n  {n}: '{v}'",
    lambda n, v: f'curl -sSf -H "Authorization: token {v}" https://api.example.org/',
    lambda n, v: f"Using {v} to publish",
)


_NAMED_ONLY = frozenset({"snyk", "datadog", "sonar", "codecov"})


def _positives(g: _Gen) -> list[Sample]:
    out: list[Sample] = []

    def add(family: str, name: str, value: str, places: int = 3) -> None:
        # a value with no format of its own (a bare UUID or hex key) is only a secret by
        # the name it is given: it goes only where a name goes with it
        named = family in _NAMED_ONLY
        for place in g.rng.sample(_PLACES[:6] if named else _PLACES, places):
            out.append(Sample(family, place(name, value), True))

    for _ in range(4):
        for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"):
            add("github", "GITHUB_TOKEN", _crc_token(prefix, g.s(30)), 1)
        add("github", "GH_TOKEN", f"github_pat_{g.s(22)}_{g.s(59)}", 2)
        add("npm", "NPM_TOKEN", _crc_token("npm_", g.s(30)), 2)
        add("gitlab", "GITLAB_TOKEN", "glpat-" + g.s(20, B64URL), 1)
        # routable tokens: base64url payload, ".01." then a base36 CRC
        add(
            "gitlab",
            "CI_TOKEN",
            f"glpat-{g.s(g.rng.randint(37, 120), B64URL)}.01.{g.s(9, string.digits + string.ascii_lowercase)}",
            1,
        )
        for prefix in ("gldt-", "glrt-", "glcbt-", "gloas-", "glptt-", "glft-"):
            add("gitlab", "GITLAB_TOKEN", prefix + g.s(20, B64URL), 1)
        add("slack", "SLACK_BOT_TOKEN", f"xoxb-{g.digits(12)}-{g.digits(13)}-{g.s(24)}", 2)
        add(
            "slack",
            "SLACK_TOKEN",
            f"xoxp-{g.digits(12)}-{g.digits(12)}-{g.digits(13)}-{g.s(32, HEX)}",
            1,
        )
        add(
            "slack",
            "SLACK_APP_TOKEN",
            f"xapp-1-A{g.s(10, BASE32)}-{g.digits(13)}-{g.s(64, HEX)}",
            1,
        )
        add("slack", "SLACK_TOKEN", f"xoxe.xoxp-1-{g.s(150, B62)}", 1)
        add(
            "slack",
            "SLACK_TOKEN",
            f"xoxa-2-{g.digits(12)}-{g.digits(12)}-{g.digits(12)}-{g.s(64, HEX)}",
            1,
        )
        add("slack", "SLACK_TOKEN", f"xoxr-{g.digits(12)}-{g.digits(12)}-{g.s(64, B62)}", 1)
        for kind, head in (("services", "B"), ("workflows", "A")):
            add(
                "slack",
                "SLACK_WEBHOOK_URL",
                f"https://hooks.slack.com/{kind}/T{g.s(10, BASE32)}/{head}{g.s(10, BASE32)}/{g.s(24)}",
                1,
            )
        add("aws", "AWS_ACCESS_KEY_ID", g.pick("AKIA", "ASIA") + g.s(16, BASE32), 2)
        out.append(
            Sample(
                "aws",
                f"aws_access_key_id = AKIA{g.s(16, BASE32)}\naws_secret_access_key = {g.s(40, B64)}",
                True,
            )
        )
        add("gcp", "GOOGLE_API_KEY", "AIza" + g.s(35, B64URL), 2)
        add(
            "stripe",
            "STRIPE_SECRET_KEY",
            g.pick("sk_live_", "rk_live_") + g.s(g.rng.choice([24, 99]), B62),
            2,
        )
        add("stripe", "STRIPE_WEBHOOK_SECRET", "whsec_" + g.s(32, B62), 1)
        add("sendgrid", "SENDGRID_API_KEY", f"SG.{g.s(22, B64URL)}.{g.s(43, B64URL)}", 2)
        add("pypi", "TWINE_PASSWORD", "pypi-AgEIcHlwaS5vcmc" + g.s(150, B64URL), 1)
        add("pypi", "TEST_PYPI_TOKEN", "pypi-AgENdGVzdC5weXBpLm9yZw" + g.s(150, B64URL), 1)
        add("dockerhub", "DOCKER_PASSWORD", "dckr_pat_" + g.s(27, B64URL), 2)
        add("openai", "OPENAI_API_KEY", f"sk-proj-{g.s(74, B64URL)}T3BlbkFJ{g.s(74, B64URL)}", 2)
        add("openai", "OPENAI_API_KEY", f"sk-{g.s(20)}T3BlbkFJ{g.s(20)}", 1)
        add("openai", "OPENAI_ADMIN_KEY", f"sk-admin-{g.s(58, B64URL)}T3BlbkFJ{g.s(58, B64URL)}", 1)
        add("anthropic", "ANTHROPIC_API_KEY", f"sk-ant-api03-{g.s(93, B64URL)}AA", 2)
        add("anthropic", "ANTHROPIC_ADMIN_KEY", f"sk-ant-admin01-{g.s(93, B64URL)}AA", 1)
        add("huggingface", "HF_TOKEN", "hf_" + g.s(34, string.ascii_letters), 2)
        add("huggingface", "HUGGING_FACE_HUB_TOKEN", "api_org_" + g.s(34, string.ascii_letters), 1)
        add("perplexity", "PPLX_API_KEY", "pplx-" + g.s(48, B62), 2)
        add("groq", "GROQ_API_KEY", "gsk_" + g.s(52, B62), 1)
        add("replicate", "REPLICATE_API_TOKEN", "r8_" + g.s(37, B62), 1)
        add("age", "SOPS_AGE_KEY", _age_secret_key(g), 2)
        add("notion", "NOTION_TOKEN", "ntn_" + g.digits(11) + g.s(35, B62), 1)
        add("notion", "NOTION_TOKEN", "secret_" + g.s(43, B62), 1)
        add("sourcegraph", "SRC_ACCESS_TOKEN", "sgp_" + g.s(40, HEX), 1)
        add("sourcegraph", "SRC_ACCESS_TOKEN", f"sgp_{g.s(16, HEX)}_{g.s(40, HEX)}", 1)
        add("snyk", "SNYK_TOKEN", g.uuid(), 2)
        add("sonar", "SONAR_TOKEN", g.pick("sqp_", "squ_", "sqa_") + g.s(40, HEX), 2)
        add("sonar", "SONAR_TOKEN", g.s(40, HEX), 1)
        add(
            "teams",
            "TEAMS_WEBHOOK_URL",
            f"https://contoso{g.s(3, string.ascii_lowercase)}.webhook.office.com/webhookb2/{g.uuid()}@{g.uuid()}"
            f"/IncomingWebhook/{g.s(32, HEX)}/{g.uuid()}/V2{g.s(43, B64URL)}",
            1,
        )
        add(
            "teams",
            "TEAMS_WEBHOOK_URL",
            f"https://outlook.office.com/webhook/{g.uuid()}@{g.uuid()}/IncomingWebhook/{g.s(32, HEX)}/{g.uuid()}",
            1,
        )
        add(
            "discord",
            "DISCORD_WEBHOOK",
            f"https://discord.com/api/webhooks/{g.digits(19)}/{g.s(68, B64URL)}",
            1,
        )
        add("sentry", "SENTRY_AUTH_TOKEN", "sntryu_" + g.s(64, HEX), 1)
        sentry_payload = (
            base64.b64encode(
                json.dumps(
                    {
                        "iat": 1764547200.5,
                        "url": "https://sentry.io",
                        "region_url": "https://us.sentry.io",
                        "org": g.s(8, string.ascii_lowercase),
                    }
                ).encode()
            )
            .decode()
            .rstrip("=")
        )
        add("sentry", "SENTRY_AUTH_TOKEN", f"sntrys_{sentry_payload}_{g.s(43, B64)}", 1)
        add(
            "newrelic",
            "NEW_RELIC_API_KEY",
            "NRAK-" + g.s(27, string.ascii_uppercase + string.digits),
            2,
        )
        add("grafana", "GRAFANA_TOKEN", f"glsa_{g.s(32, B62)}_{g.s(8, HEX)}", 1)
        add("datadog", "DD_API_KEY", g.s(32, HEX), 1)
        out.append(
            Sample("datadog", f"datadog-ci: uploading junit with api key {g.s(32, HEX)}", True)
        )
        add("digitalocean", "DIGITALOCEAN_TOKEN", "dop_v1_" + g.s(64, HEX), 1)
        add("hashicorp", "VAULT_TOKEN", "hvs." + g.s(90, B64URL), 1)
        add(
            "hashicorp",
            "TFE_TOKEN",
            f"{g.s(14, string.ascii_lowercase + string.digits)}.atlasv1.{g.s(67, B64URL)}",
            1,
        )
        add("doppler", "DOPPLER_TOKEN", "dp.pt." + g.s(43, B62), 1)
        add("pulumi", "PULUMI_ACCESS_TOKEN", "pul-" + g.s(40, HEX), 1)
        add("linear", "LINEAR_API_KEY", "lin_api_" + g.s(40, B62), 1)
        add(
            "shopify",
            "SHOPIFY_TOKEN",
            g.pick("shpat_", "shpss_", "shpca_", "shppa_") + g.s(32, HEX),
            1,
        )
        add("postman", "POSTMAN_API_KEY", f"PMAK-{g.s(24, HEX)}-{g.s(34, HEX)}", 1)
        add("databricks", "DATABRICKS_TOKEN", "dapi" + g.s(32, HEX), 1)
        add("rubygems", "GEM_HOST_API_KEY", "rubygems_" + g.s(48, HEX), 1)
        add("nuget", "NUGET_API_KEY", "oy2" + g.s(43, string.ascii_lowercase + string.digits), 1)
        add("buildkite", "BUILDKITE_API_TOKEN", "bkua_" + g.s(40, HEX), 1)
        add("bitbucket", "BITBUCKET_APP_PASSWORD", "ATBB" + g.s(28) + g.s(8, UPPER_HEX), 1)
        add("twilio", "TWILIO_API_KEY", "SK" + g.s(32, HEX), 1)
        add(
            "azure",
            "AZURE_CLIENT_SECRET",
            f"{g.s(3, B62)}{g.s(1, string.digits)}Q~{g.s(34, B62 + '_~.-')}",
            1,
        )
        out.append(
            Sample(
                "azure",
                "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acme;"
                f"AccountKey={base64.b64encode(g.rng.randbytes(64)).decode()};EndpointSuffix=core.windows.net",
                True,
            )
        )
        add("jwt", "ID_TOKEN", _jwt(g), 2)
        add("jwt", "ID_TOKEN", _jwt(g, "none"), 1)
        for scheme, user in (
            ("postgres", "app"),
            ("mysql", "deploy"),
            ("redis", "default"),
            ("mongodb+srv", "ci"),
            ("amqp", "worker"),
        ):
            add(
                "url-credentials",
                "DATABASE_URL",
                f"{scheme}://{user}:{g.s(20, B62)}@db.internal.example:5432/app",
                1,
            )
        # documented prefix + alphabet + length, one line each
        for family, name, value in (
            ("xai", "XAI_API_KEY", "xai-" + g.s(80)),
            ("openrouter", "OPENROUTER_API_KEY", "sk-or-v1-" + g.s(64, HEX)),
            ("langsmith", "LANGSMITH_API_KEY", f"lsv2_pt_{g.s(32, HEX)}_{g.s(10, HEX)}"),
            ("pinecone", "PINECONE_API_KEY", f"pcsk_{g.s(5)}_{g.s(63)}"),
            (
                "dynatrace",
                "DT_API_TOKEN",
                f"dt0c01.{g.s(24, BASE32)}.{g.s(64, string.ascii_uppercase + string.digits)}",
            ),
            ("cratesio", "CARGO_REGISTRY_TOKEN", "cio" + g.s(32)),
            ("clojars", "CLOJARS_PASSWORD", "CLOJARS_" + g.s(60, HEX)),
            ("jfrog", "ARTIFACTORY_API_KEY", "AKCp" + g.s(69)),
            ("codecov", "CODECOV_TOKEN", g.uuid()),
            ("telegram", "TELEGRAM_BOT_TOKEN", f"{g.digits(10)}:AA{g.s(33, B64URL)}"),
            (
                "google-chat",
                "GCHAT_WEBHOOK",
                f"https://chat.googleapis.com/v1/spaces/AAAA{g.s(7, B64URL)}/messages?key=AIza{g.s(35, B64URL)}&token={g.s(43, B64URL)}%3D",
            ),
            ("flyio", "FLY_API_TOKEN", "fo1_" + g.s(43, B64URL)),
            ("netlify", "NETLIFY_AUTH_TOKEN", "nfp_" + g.s(36)),
            ("render", "RENDER_API_KEY", "rnd_" + g.s(32)),
            ("supabase", "SUPABASE_ACCESS_TOKEN", "sbp_" + g.s(40, HEX)),
            ("planetscale", "PLANETSCALE_SERVICE_TOKEN", "pscale_tkn_" + g.s(43, B64URL)),
            ("heroku", "HEROKU_API_KEY", "HRKU-AA" + g.s(58, B64URL)),
            ("figma", "FIGMA_TOKEN", "figd_" + g.s(40, B64URL)),
            ("hubspot", "HUBSPOT_TOKEN", "pat-na1-" + g.uuid()),
            ("circleci", "CIRCLE_TOKEN", f"CCIPAT_{g.s(22)}_{g.s(40, HEX)}"),
            ("alibaba", "ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI" + g.s(20)),
            ("mapbox", "MAPBOX_SECRET_TOKEN", f"sk.eyJ{g.s(60, B64URL)}.{g.s(22, B64URL)}"),
            ("square", "SQUARE_ACCESS_TOKEN", "sq0atp-" + g.s(22, B64URL)),
            ("mailgun", "MAILGUN_API_KEY", "key-" + g.s(32, HEX)),
            ("1password", "OP_SERVICE_ACCOUNT_TOKEN", "ops_eyJ" + g.s(300, B64URL)),
            ("azure", "AZURE_DEVOPS_PAT", f"{g.s(52)}JQQJ99{g.s(18)}AZDO{g.s(4)}"),
            ("gcp", "GOOGLE_CLIENT_SECRET", "GOCSPX-" + g.s(28, B64URL)),
        ):
            add(family, name, value, 1)
        out.append(Sample("bearer", f"> Authorization: Bearer {g.s(40, B64URL)}", True))
        out.append(
            Sample(
                "bearer",
                f"curl -H 'Authorization: Bearer {g.s(48, B62)}' https://api.vendor.example/v1",
                True,
            )
        )
    out += _assignments(g)
    out += _keys(g)
    out += _encoded(g, out)
    return out


def _assignments(g: _Gen) -> list[Sample]:
    """The generic family: a credential-named variable holding a random literal, in every
    common syntax."""
    out = []
    for _ in range(3):
        pw = g.s(16, B62 + "!#%+") + g.s(2, string.digits)
        sts = "FwoGZXIvYXdzE" + g.s(704, B64)
        forms = [
            f'DB_PASSWORD="{pw}"',
            f"db_password = '{pw}'",
            f'password := "{pw}"',
            f'var dbPassword string = "{pw}"',
            f"$password .= '{pw}';",
            f"'password' => '{pw}',",
            f"PASSWORD ?= {pw}",
            f"PASSWORD ::= {pw}",
            f'props.setProperty("password", "{pw}");',
            f"spring.datasource.password={pw}",
            f"[database]\npassword = {pw}",
            f'auth = "{g.s(32, B62)}"',
            f'credentials: "{g.s(32, B62)}"',
            f"CREDS={g.s(28, B62)}",
            f'aws_session_token = "{sts}"',
            f'client_secret = "{g.s(24, string.ascii_letters)}"',
            f'resource "x" "y" {{\n  api_key = "{g.s(32, B62)}"\n}}',
            f"ENV API_TOKEN={g.s(32, B62)}",
            f'String apiSecret = "{g.s(30, B62)}";',
        ]
        out += [Sample("assignment", text, True) for text in forms]
    return out


def _keys(g: _Gen) -> list[Sample]:
    out = []
    for name, pem in _pem_keys(g):
        lines = pem.splitlines()
        out.append(Sample("private-key", pem, True, name))
        out.append(
            Sample(
                "private-key",
                "\n".join(
                    f"2026-12-01T10:00:{i:02d}.1234567Z {line}" for i, line in enumerate(lines)
                ),
                True,
                name + " timestamps",
            )
        )
        out.append(
            Sample("private-key", "\n".join(f"+ {line}" for line in lines), True, name + " set -x")
        )
        out.append(
            Sample(
                "private-key",
                "\n".join(f"##[debug]{line}" for line in lines),
                True,
                name + " debug",
            )
        )
        out.append(
            Sample(
                "private-key",
                "deploy_key: |\n" + "\n".join(f"    {line}" for line in lines),
                True,
                name + " yaml",
            )
        )
        escaped = json.dumps(pem + "\n")
        out.append(Sample("private-key", f'  "private_key": {escaped},', True, name + " json"))
    return out


def _encoded(g: _Gen, positives: list[Sample]) -> list[Sample]:
    out = []
    for _ in range(4):
        token = _crc_token("ghp_", g.s(30))
        blob = base64.b64encode(f'{{"auths":{{"ghcr.io":{{"auth":"{token}"}}}}}}'.encode()).decode()
        out.append(Sample("encoded", f"DOCKER_CONFIG_JSON={blob}", True, "base64"))
        line = f"GITHUB_TOKEN={_crc_token('ghp_', g.s(30))}\n"
        out.append(
            Sample(
                "encoded",
                f"echo {base64.b64encode(line.encode()).decode()} | base64 -d",
                True,
                "base64",
            )
        )
        pw = g.s(20, B62)
        out.append(
            Sample("encoded", f"url=https://ci:{pw}%40x@git.example.org/r.git", True, "percent")
        )
        key = "sk_live_" + g.s(24, B62)
        out.append(Sample("encoded", f"next=%2Fpay%3Fkey%3D{key}%26x%3D1", True, "percent"))
    return out


def _negatives(g: _Gen) -> list[Sample]:
    bad_crc = "ghp_" + g.s(36)  # right prefix, alphabet and length; the CRC32 does not match
    if _crc_token("ghp_", bad_crc[4:34]) == bad_crc:
        bad_crc = bad_crc[:-1] + ("A" if bad_crc[-1] != "A" else "B")
    texts = [
        ("github", "GITHUB_TOKEN=github_pat_" + "x" * 22 + "_" + "x" * 59),
        ("github", f"token: {bad_crc}"),
        ("github", "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}"),
        ("github", "export GH_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
        ("slack", "SLACK_TOKEN=xoxe.xoxp-1-RANDOMSTRINGHERE"),
        ("slack", "SLACK_BOT_TOKEN=xoxb-your-bot-token"),
        (
            "slack",
            "webhook: https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        ),
        ("aws", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
        ("aws", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("gcp", "apiKey: 'AIza" + "a" * 35 + "'"),
        ("gcp", "GOOGLE_API_KEY=AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
        ("stripe", "Stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'"),
        ("url-credentials", "DATABASE_URL=postgres://postgres:postgres@localhost:5432/app"),
        ("url-credentials", "https://user:password@example.com/path"),
        ("url-credentials", "mysql://root:REPLACE_WITH_PASSWORD@db/app"),
        ("url-credentials", "redis://:${REDIS_PASSWORD}@redis:6379/0"),
        ("url-credentials", "amqp://guest:guest@localhost:5672/"),
        (
            "url-credentials",
            "git clone https://oauth2:$CI_JOB_TOKEN@gitlab.example.com/group/repo.git",
        ),
        ("assignment", "token = self._current_token"),
        ("assignment", "password: Optional[str] = None"),
        ("assignment", "api_key = os.environ['API_KEY']"),
        ("assignment", "secret = get_secret(name)"),
        ("assignment", "AUTH_TOKEN_URL = 'https://auth.example.com/oauth/token'"),
        ("assignment", 'password = getpass.getpass("Password: ")'),
        ("assignment", "PASSWORD_MIN_LENGTH = 12345678"),
        ("assignment", "DB_PASSWORD=${DB_PASSWORD:?required}"),
        ("assignment", 'api_key: "<your-api-key>"'),
        ("assignment", "SECRET_KEY = 'change-me-in-production'"),
        ("assignment", "self.token: str = token"),
        ("assignment", 'token = f"Bearer {access_token}"'),
        ("assignment", "password = request.form['password']"),
        ("assignment", "const apiKey = process.env.API_KEY;"),
        ("assignment", "TOKEN_TYPE = 'bearer_token_v2'"),
        (
            "assignment",
            "secrets:\n  - name: DB_PASSWORD\n    valueFrom: arn:aws:ssm:us-east-1:123456789012:parameter/db",
        ),
        ("assignment", 'password = "********"'),
        ("assignment", "client_secret: {{ .Values.oauth.clientSecret }}"),
        ("assignment", "SECRET_NAME = 'projects/my-project/secrets/db-password/versions/latest'"),
        ("assignment", "tokens = tokenizer.tokenize(text)"),
        ("private-key", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----"),
        ("private-key", "-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----"),
        (
            "private-key",
            "-----BEGIN CERTIFICATE-----\n"
            + base64.b64encode(g.rng.randbytes(300)).decode()
            + "\n-----END CERTIFICATE-----",
        ),
        ("jwt", "Authorization: Bearer <jwt>"),
        ("bearer", "> Authorization: Bearer ${TOKEN}"),
        ("bearer", 'curl -H "Authorization: Bearer $(gcloud auth print-identity-token)" https://x'),
        ("bearer", "Authorization: Bearer [REDACTED]"),
        ("pypi", "password = pypi-AgEIcHlwaS5vcmc..."),
        ("noise", f"commit {g.s(40, HEX)}"),
        ("noise", f"sha256:{g.s(64, HEX)}"),
        ("noise", f"request-id: {g.uuid()}"),
        ("noise", f"integrity sha512-{base64.b64encode(g.rng.randbytes(64)).decode()}"),
        (
            "noise",
            "Downloading https://files.pythonhosted.org/packages/ab/cd/" + g.s(60, HEX) + "/x.whl",
        ),
    ]
    return [Sample(family, text, False) for family, text in texts]


def samples(seed: int) -> list[Sample]:
    g = _Gen(seed)
    return _positives(g) + _negatives(g)


def render(items: list[Sample]) -> tuple[str, list[tuple[Sample, int, int]]]:
    """One file: each sample on its own lines, a blank line between; (sample, first, last)."""
    lines: list[str] = []
    spans = []
    for item in items:
        first = len(lines) + 1
        lines.extend(item.text.splitlines())
        spans.append((item, first, len(lines)))
        lines.append("")
    return "\n".join(lines) + "\n", spans
