"""Code versus configuration, private keys behind any prefix, decoding, streaming, the CLI's
warnings: the behaviours issue 18 asked for, each with the case that used to fail."""

from __future__ import annotations

import base64
import io
import json
import string
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from cievents.cli import main
from cievents.scanning import Scanner
from cievents.scanning.validate import github_style_token
from tests.scanning.samples import B62, rand

PASSWORD = rand(18) + "%4"


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(fingerprint_key="k")


def rules(scanner: Scanner, text: str) -> list[str]:
    return [f.rule_id for f in scanner.scan_text(text)]


CODE = [
    "token = self._current_token",
    "password: Optional[str] = None",
    "api_key = os.environ['API_KEY']",
    "secret = get_secret(name)",
    'password = getpass.getpass("Password: ")',
    "self.token: str = token",
    'token = f"Bearer {access_token}"',
    "const apiKey = process.env.API_KEY;",
    "tokens = tokenizer.tokenize(text)",
    "max_tokens = 4096",
    "AUTH_TOKEN_URL = 'https://auth.example.com/oauth/token'",
    "SECRET_NAME = 'projects/p/secrets/db-password/versions/latest'",
    'api_key: "<your-api-key>"',
    "client_secret: {{ .Values.oauth.clientSecret }}",
    "DB_PASSWORD=${DB_PASSWORD:?required}",
    "password = 'yh^%#rest-of-my-password'",
    "capabilities = 'LOGINDISABLED AUTH=CRAM-MD5'",
    "('User:Pass', 'www.python.org:080')",
    "token: ghp_" + "a" * 36,  # a vendor's prefix with a broken checksum is not generic
    "private_key: Ed25519PrivateKey | Ed448PrivateKey",
    "    private_key: PKCS7PrivateKeyTypes,",
    "HTTPDigestAuth = _HTTPDigestAuth",
    "'oauth_token=lsdkfol23w54jlksdef&oauth_token_secret=qwe089234lkjsdf'",  # typed at random
    '"access_token":"2YotnFZFEjr1zCsicMWpAA",',  # RFC 6749's example
    "ADDITIONAL_CLOUD_CREDENTIALS: T1098.001",  # a MITRE technique id
    "    Next page token: eav1OzQB0OM8rLdGXOEsyQWSG",  # prose about a cursor
    "'oauth_token': 'kjerht2309u',",  # short, lower case: typed, not generated
    # two items of a list, not setProperty("secret", …): a work item's labels
    '"labels": ["cievents-secret", "cievents-7cff370a8fa0115d"],',
    f"tags = ['client-secret', '{rand(24)}']",
]


@pytest.mark.parametrize("line", CODE)
def test_code_and_placeholders_are_not_secrets(scanner: Scanner, line: str) -> None:
    assert rules(scanner, line) == []


CONFIG = [
    f'DB_PASSWORD="{PASSWORD}"',
    f"db_password = '{PASSWORD}'",
    f'password := "{PASSWORD}"',
    f'var dbPassword string = "{PASSWORD}"',
    f"$password .= '{PASSWORD}';",
    f"'password' => '{PASSWORD}',",
    f"PASSWORD ?= {PASSWORD}",
    f"PASSWORD ::= {PASSWORD}",
    f'props.setProperty("password", "{PASSWORD}");',
    f"os.environ.setdefault( 'PASSWORD', '{rand(32)}')",
    f"spring.datasource.password={PASSWORD}",
    f"[database]\npassword = {PASSWORD}",
    f'auth = "{rand(32)}"',
    f'credentials: "{rand(32)}"',
    f"CREDS={rand(28)}",
    f'aws_session_token = "FwoGZXIvYXdzE{rand(704, B62 + "+/")}"',  # 717 characters
    f'client_secret = "{rand(24, string.ascii_letters)}"',  # letters only, random
    f'resource "x" "y" {{\n  api_key = "{rand(32)}"\n}}',
]


@pytest.mark.parametrize("text", CONFIG)
def test_every_assignment_syntax_is_judged_on_its_value(scanner: Scanner, text: str) -> None:
    assert rules(scanner, text) == ["secret-assignment"]


def _keys() -> list[str]:
    none = ser.NoEncryption()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return [
        ec_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, none).decode().strip(),
        ec_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, none)
        .decode()
        .strip(),
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, none)
        .decode()
        .strip(),
    ]


PREFIXES = ["2026-12-01T10:00:00.1234567Z ", "+ ", "    ", "##[debug]"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_private_keys_are_found_through_any_line_prefix(scanner: Scanner, prefix: str) -> None:
    for key in _keys():
        text = "\n".join(prefix + line for line in key.splitlines())
        assert rules(scanner, f"step\n{text}\nnext\n") == ["private-key"]


def test_private_keys_in_yaml_block_scalars_and_json_strings(scanner: Scanner) -> None:
    key = _keys()[0]
    block = "deploy_key: |\n" + "\n".join("  " + line for line in key.splitlines())
    assert rules(scanner, block) == ["private-key"]
    service_account = json.dumps({"type": "service_account", "private_key": key + "\n"})
    assert rules(scanner, service_account) == ["private-key"]


def test_armored_pgp_keys_are_checked_by_their_crc24(scanner: Scanner) -> None:
    from cievents.scanning.validate import crc24

    body = bytes([0xC5, 0x58, 0x04]) + bytes(range(87))
    crc = base64.b64encode(crc24(body).to_bytes(3, "big")).decode()
    armored = base64.b64encode(body).decode()
    block = "\n".join(
        [
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "",
            armored[:64],
            armored[64:],
            "=" + crc,
            "-----END PGP PRIVATE KEY BLOCK-----",
        ]
    )
    assert rules(scanner, block) == ["private-key"]
    elided = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----"
    assert rules(scanner, elided) == []


def test_base64_is_decoded_once_and_points_at_the_encoded_run(scanner: Scanner) -> None:
    token = github_style_token("ghp_", rand(30))
    blob = base64.b64encode(json.dumps({"auths": {"ghcr.io": {"auth": token}}}).encode())
    text = b"DOCKER_CONFIG_JSON=" + blob + b"\n"
    [finding] = Scanner(fingerprint_key="k").scan_bytes(text, redacted=False)
    assert finding.rule_id == "github-token" and finding.secret == token
    assert text[finding.start : finding.end] == blob  # the encoded span, not the decoded one


def test_percent_encoded_query_strings(scanner: Scanner) -> None:
    key = "sk_live_" + rand(24)
    assert rules(scanner, f"next=%2Fpay%3Fkey%3D{key}%26x%3D1") == ["stripe-key"]


def test_rule_fixes_from_the_issue(scanner: Scanner) -> None:
    assert rules(scanner, "apiKey: 'AIza" + "a" * 35 + "'") == []  # entropy floor
    assert rules(scanner, "GITHUB_TOKEN=github_pat_" + "x" * 22 + "_" + "x" * 59) == []
    assert rules(scanner, "SLACK_TOKEN=xoxe.xoxp-1-RANDOMSTRINGHERE") == []
    for url in (
        "postgres://postgres:postgres@localhost:5432/app",
        "https://user:password@example.com/path",
        "mysql://root:REPLACE_WITH_PASSWORD@db/app",
    ):
        assert rules(scanner, url) == [], url
    team, app = rand(10, "ABCDEFGH234567"), rand(10, "ABCDEFGH234567")
    hook = f"http://hooks.slack.com/workflows/T{team}/A{app}/{rand(18, string.digits)}/{rand(24)}"
    assert rules(scanner, hook) == ["slack-webhook"]
    assert rules(scanner, f"xoxa-2-{rand(12, string.digits)}-{rand(40)}") == ["slack-token"]
    assert rules(scanner, "pypi-AgENdGVzdC5weXBpLm9yZw" + rand(120, B62 + "-_")) == ["pypi-token"]
    hexkey = rand(32, "0123456789abcdef")
    assert rules(scanner, f"datadog-ci: uploading junit with api key {hexkey}") == [
        "datadog-api-key"
    ]
    # a random token that happens to contain 12345678 is still a token
    assert rules(scanner, "STRIPE=sk_live_" + rand(10) + "12345678" + rand(10)) == ["stripe-key"]


def test_jwts_signed_with_a_documentation_key_are_examples(scanner: Scanner) -> None:
    import hashlib
    import hmac

    def seg(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    head = seg(b'{"alg":"HS256","typ":"JWT"}') + "." + seg(b'{"some":"payload"}')
    for key, found in ((b"secret", []), (rand(32).encode(), ["jwt"])):
        token = head + "." + seg(hmac.new(key, head.encode(), hashlib.sha256).digest())
        assert rules(scanner, f"id_token={token}") == found


def test_placeholder_words_inside_long_random_tokens_do_not_hide_them(scanner: Scanner) -> None:
    token = f"xoxe.xoxp-1-{rand(60)}fake{rand(80)}"
    assert rules(scanner, f"SLACK_TOKEN={token}") == ["slack-token"]


def test_unsigned_jwts_are_found(scanner: Scanner) -> None:
    def seg(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    token = f"{seg({'alg': 'none', 'typ': 'JWT'})}.{seg({'sub': 'ci', 'role': 'admin'})}."
    assert rules(scanner, f"id_token={token}") == ["jwt"]


def test_streamed_windows_lose_nothing_at_a_boundary(scanner: Scanner) -> None:
    token = github_style_token("ghp_", rand(30))
    filler = b"".join(b"line %d of build output\n" % i for i in range(4000))
    data = filler + b"export GITHUB_TOKEN=" + token.encode() + b"\n" + filler
    whole = scanner.scan_bytes(data)
    for window in (1000, 4096, len(filler) + 5, len(filler) + 25):
        streamed = scanner.scan_stream(io.BytesIO(data), window_bytes=window)
        assert streamed == whole, window
    assert [f.line for f in whole] == [4001]


def test_the_cli_warns_and_fails_on_what_it_could_not_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = tmp_path / "clean.log"
    clean.write_text("nothing here\n")
    assert main(["scan", str(clean)]) == 0
    assert main(["scan", str(clean), str(tmp_path / "missing.log")]) == 2
    err = capsys.readouterr().err
    assert "missing.log: no such file or directory (not scanned)" in err
    assert "1 not scanned" in err


def test_the_cli_scans_big_and_binary_files(tmp_path: Path) -> None:
    token = github_style_token("ghp_", rand(30))
    big = tmp_path / "big.log"
    with big.open("wb") as handle:
        chunk = b"x" * 1023 + b"\n"
        for _ in range(20 * 1024):  # 20 MiB: more than two streaming windows
            handle.write(chunk)
        handle.write(b"\0\1binary\0 " + token.encode() + b"\n")
    assert main(["scan", "--format", "json", str(big)]) == 1
