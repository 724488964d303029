"""The rule table: what a leaked credential looks like, family by family.

Each rule has literal *anchors* (what the multi-pattern prefilter looks for:
a token's fixed prefix, or the word that introduces it), a regex whose
``secret`` group is the credential itself, run only on a window around an
anchor hit, and the precision checks that apply: a checksum, a structure, a
minimum entropy. Anchors are matched case-insensitively unless the rule says
otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cievents.scanning.engines import Pattern

Check = str  # a named validator in cievents.scanning.validate


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    description: str
    anchors: tuple[str, ...]
    pattern: str
    severity: str = "high"
    checks: tuple[Check, ...] = ()
    min_entropy: float = 0.0
    window_before: int = 0
    window_after: int = 200
    confidence: str = "high"
    companion: str | None = None  # a rule whose hit nearby raises confidence (AWS id + secret)
    anchor_nocase: bool = False
    # Where the regex is tried: None = at the anchor; a character class = after walking back
    # over those characters from the anchor (the anchor sits inside a name or a scheme);
    # "window" = anywhere in the window (the anchor sits in the middle of the match).
    back: str | None = None
    # A necessary condition after the anchor, checked by the prefilter itself (hyperscan
    # syntax, also valid for ``re``): it keeps common anchors (``://``, ``TOKEN``) from
    # costing a window each. It must hold on the raw text wherever the regex matches the
    # normalized text, so it may not rely on anything an escape sequence could interrupt.
    tail: str | None = None
    # Only a private key spans lines; every other rule's match stays on the anchor's line,
    # so its window is that line alone.
    multiline: bool = False
    # For a multi-line rule: the text that closes a match (its window ends on that line).
    terminator: str | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # ASCII semantics: the text is scanned as latin-1, one character per byte.
        object.__setattr__(self, "regex", re.compile(self.pattern, re.ASCII))


def patterns_of(rules: Iterable[Rule]) -> list[Pattern]:
    """Every (rule, anchor) as one prefilter pattern, in rule order."""
    return [
        Pattern(anchor, rule.tail, rule.anchor_nocase) for rule in rules for anchor in rule.anchors
    ]


B62 = "A-Za-z0-9"
# Every prefix of a token Buildkite issues (the agent's own redaction list).
BUILDKITE_PREFIXES = (
    "bkua_",  # API access token
    "bkur_",  # OAuth refresh token
    "bkaa_",  # agent session (access) token
    "bkar_",  # unclustered agent registration token
    "bkaj_",  # agent job token, in every job's environment
    "bkjat_",  # agent job acquisition token
    "bkct_",  # cluster agent token
    "bkcqt_",  # cluster queue token
    "bktr_",  # pipeline trigger token
    "bkat_",  # pipeline access token
    "bktx_",  # token exchange
    "bkpt_",  # packages temporary token
    "bkrt_",  # packages registry token
    "bkpat_",  # portal token
    "bkps_",  # portal secret
)
_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"

RULES: tuple[Rule, ...] = (
    # --- cloud ---------------------------------------------------------------------------
    Rule(
        "aws-access-key-id",
        "aws",
        "AWS access key ID",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        _START + r"(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})" + _END,
        severity="medium",
        confidence="medium",
        checks=("not_placeholder",),
        companion="aws-secret-access-key",
        window_after=24,
    ),
    Rule(
        "aws-secret-access-key",
        "aws",
        "AWS secret access key",
        ("aws_secret_access_key", "secret_access_key", "awssecretaccesskey", "aws_secret_key"),
        r"(?i)[A-Za-z0-9_\-]*?(?:aws_?)?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        checks=("not_placeholder",),
        min_entropy=4.0,
        window_before=40,
        window_after=90,
        anchor_nocase=True,
        back=r"[A-Za-z0-9_\-]",
    ),
    Rule(
        "gcp-service-account-key",
        "gcp",
        "GCP service-account private key JSON",
        ('"private_key_id"',),
        r"\"private_key_id\"\s*:\s*\"(?P<secret>[a-f0-9]{40})\"",
        window_before=10,
        window_after=80,
    ),
    Rule(
        "gcp-api-key",
        "gcp",
        "Google API key",
        ("AIza",),
        _START + r"(?P<secret>AIza[0-9A-Za-z_\-]{35})" + _END,
        checks=("not_placeholder",),
        window_after=45,
    ),
    Rule(
        "azure-storage-key",
        "azure",
        "Azure storage account key in a connection string",
        ("AccountKey=",),
        r"AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)",
        checks=("azure_key",),
        window_after=110,
    ),
    Rule(
        "azure-sas-token",
        "azure",
        "Azure shared access signature",
        ("sig=",),
        r"[?&]sv=\d{4}-\d{2}-\d{2}[^\s\"']*?&sig=(?P<secret>[A-Za-z0-9%+/=]{43,88})",
        window_before=200,
        window_after=100,
        severity="medium",
        back="window",
    ),
    # --- source control ------------------------------------------------------------------
    Rule(
        "github-token",
        "github",
        "GitHub token (classic PAT, OAuth, user, server, refresh)",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        _START + r"(?P<secret>gh[pousr]_[" + B62 + r"]{36})" + _END,
        checks=("github_crc32",),
        window_after=44,
    ),
    Rule(
        "github-fine-grained-pat",
        "github",
        "GitHub fine-grained personal access token",
        ("github_pat_",),
        _START + r"(?P<secret>github_pat_[" + B62 + r"]{22}_[" + B62 + r"]{59})" + _END,
        window_after=96,
    ),
    Rule(
        "github-app-installation-token",
        "github",
        "GitHub App installation token, stateless format (ghs_ and a JWT, ~520 characters)",
        ("ghs_",),
        # GitHub's rollout notes: ghs_-prefixed, two dots, extra underscores (an app id may
        # precede the JWT: ghs_<app id>_<jwt>).
        _START
        + r"(?P<secret>ghs_(?:[A-Za-z0-9]+_)?eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)"
        + _END,
        checks=("jwt_structure_suffix",),
        window_after=2000,
    ),
    Rule(
        "gitlab-token",
        "gitlab",
        "GitLab token (personal, deploy, runner, CI job, OAuth, trigger)",
        ("glpat-", "gldt-", "glrt-", "glcbt-", "gloas-", "glptt-", "glft-", "glsoat-"),
        # Legacy tokens: 20 characters after the prefix. Routable tokens (GitLab 17.x and
        # later): a longer payload, then ".<version>.<checksum>", up to ~316 characters.
        _START
        + r"(?P<secret>gl(?:pat|dt|rt|cbt|oas|ptt|ft|soat)-[A-Za-z0-9_\-]{20,320}"
        + r"(?:\.[0-9]{1,3}\.[A-Za-z0-9]{4,16})?)"
        + _END,
        checks=("not_placeholder",),
        min_entropy=3.0,
        window_after=340,
    ),
    Rule(
        "bitbucket-token",
        "bitbucket",
        "Bitbucket / Atlassian API token",
        ("ATBB", "ATATT3"),
        _START
        + r"(?P<secret>(?:ATBB[A-Za-z0-9]{28}[A-F0-9]{8}|ATATT3[A-Za-z0-9_\-=]{180,200}))"
        + _END,
        window_after=210,
    ),
    # --- CI -------------------------------------------------------------------------------
    Rule(
        "buildkite-token",
        "buildkite",
        "Buildkite token (API, OAuth refresh, agent registration / session / job / job "
        "acquisition, cluster, cluster queue, pipeline trigger and access, packages, portal)",
        BUILDKITE_PREFIXES,
        # The body is base64url plus '.', which separates an embedded organization id
        # (``bkua_MTA.4f6c…``) or a JWT's parts (``bkaj_eyJ…``); the shortest body Buildkite
        # issues is 38 bytes, the longest (job acquisition JWTs) several hundred.
        _START
        + r"(?P<secret>bk(?:"
        + "|".join(p[2:-1] for p in BUILDKITE_PREFIXES)
        + r")_[A-Za-z0-9_\-.]{37,2047}[A-Za-z0-9_\-])"
        + _END,
        checks=("not_placeholder",),
        min_entropy=3.0,
        window_after=2100,
    ),
    # --- chat ------------------------------------------------------------------------------
    Rule(
        "slack-token",
        "slack",
        "Slack token (bot, user, app, refresh, config)",
        ("xoxb-", "xoxp-", "xoxa-", "xoxe", "xoxr-", "xoxs-", "xapp-"),
        # bot xoxb-<n>-<n>-<key>, user xoxp-<n>-<n>-<n>-<hex>, rotating xoxe.xoxp-1-<…>,
        # refresh xoxe-1-<…>, app-level xapp-1-<id>-<n>-<hex>
        _START + r"(?P<secret>(?:xox[bparse](?:\.xox[bp])?-[0-9]{1,13}-[A-Za-z0-9\-]{10,250}"
        r"|xapp-\d-[A-Z0-9]{9,12}-\d{9,14}-[a-f0-9]{32,80}))" + _END,
        checks=("not_placeholder",),
        window_after=300,
    ),
    Rule(
        "slack-webhook",
        "slack",
        "Slack incoming webhook URL",
        ("hooks.slack.com/",),
        r"(?P<secret>https://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/[A-Z0-9]{6,14}/[A-Za-z0-9]{20,40})",
        window_before=8,
        window_after=120,
        back="window",
    ),
    # --- payments, messaging, email ---------------------------------------------------------
    Rule(
        "stripe-key",
        "stripe",
        "Stripe secret or restricted key",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
        _START + r"(?P<secret>[sr]k_(?:live|test)_[A-Za-z0-9]{24,247})" + _END,
        checks=("not_placeholder",),
        min_entropy=3.5,
        window_after=260,
    ),
    Rule(
        "twilio-api-key",
        "twilio",
        "Twilio API key SID",
        ("SK",),
        _START + r"(?P<secret>SK[0-9a-f]{32})" + _END,
        severity="medium",
        confidence="medium",
        checks=("not_placeholder", "hex_entropy"),
        window_after=34,
        tail="[0-9a-f]{32}",
    ),
    Rule(
        "twilio-auth-token",
        "twilio",
        "Twilio auth token",
        ("twilio",),
        r"(?i)twilio[\w\-]{0,20}(?:auth)?[\w\-]{0,10}(?:token|secret)[\"']?\s*[:=]\s*[\"']?(?P<secret>[0-9a-f]{32})(?![0-9a-f])",
        window_before=0,
        window_after=90,
        checks=("hex_entropy",),
        anchor_nocase=True,
        back=r"[A-Za-z0-9_\-]",
    ),
    Rule(
        "sendgrid-key",
        "sendgrid",
        "SendGrid API key",
        ("SG.",),
        _START + r"(?P<secret>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})" + _END,
        window_after=70,
    ),
    # --- package registries -----------------------------------------------------------------
    Rule(
        "npm-token",
        "npm",
        "npm access token",
        ("npm_",),
        _START + r"(?P<secret>npm_[" + B62 + r"]{36})" + _END,
        checks=("npm_crc32",),
        window_after=42,
    ),
    Rule(
        "pypi-token",
        "pypi",
        "PyPI upload token",
        ("pypi-AgEIcHlwaS5vcmc",),
        r"(?P<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,1000})",
        window_after=1030,
    ),
    Rule(
        "dockerhub-token",
        "dockerhub",
        "Docker Hub personal access token",
        ("dckr_pat_", "dckr_oat_"),
        _START + r"(?P<secret>dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,32})" + _END,
        window_after=45,
    ),
    Rule(
        "datadog-api-key",
        "datadog",
        "Datadog API or application key",
        (
            "dd_api_key",
            "dd_app_key",
            "datadog_api_key",
            "datadog_app_key",
            "dd-api-key",
            "dd-application-key",
            "datadog_application_key",
        ),
        r"(?i)(?:dd|datadog)[_\-](?:api|app|application)[_\-]key[\"']?\s*[:=]\s*[\"']?(?P<secret>[a-f0-9]{32}(?:[a-f0-9]{8})?)(?![a-f0-9])",
        checks=("hex_entropy",),
        window_after=80,
        anchor_nocase=True,
        back=r"[A-Za-z0-9_\-]",
    ),
    # --- keys and tokens in general -------------------------------------------------------------
    Rule(
        "private-key",
        "private-key",
        "Private key block (PEM, OpenSSH, PGP)",
        ("-----BEGIN",),
        r"(?P<secret>-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
        r"[\s\S]{40,8000}?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----)",
        checks=("pem_body",),
        window_after=8200,
        multiline=True,
        terminator="-----END",
        # only private key blocks: certificates and public keys are printed in logs all day.
        tail=r"[A-Z ]{0,20}PRIVATE KEY",
    ),
    Rule(
        "jwt",
        "jwt",
        "JSON Web Token",
        ("eyJ",),
        _START + r"(?P<secret>eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})",
        severity="medium",
        checks=("jwt_structure",),
        window_after=4000,
    ),
    Rule(
        "url-credentials",
        "url-credentials",
        "Credentials inside a URL (scheme://user:pass@host)",
        ("://",),
        r"(?P<scheme>[a-z][a-z0-9+.\-]{1,20})://(?P<user>[^\s:/@\"'<>]{1,64}):(?P<secret>[^\s:/@\"'<>]{3,128})@(?P<host>[A-Za-z0-9.\-]+)",
        checks=("not_placeholder", "url_password"),
        window_before=24,
        window_after=260,
        severity="medium",
        back=r"[A-Za-z0-9+.\-]",
        # user:password then @ before the next space; escapes hold no spaces or newlines.
        tail=r"[^\s@]+@",
    ),
    Rule(
        "secret-assignment",
        "assignment",
        "Secret-looking NAME=value assignment",
        ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY"),
        r"(?i)(?P<name>[A-Z0-9_]*(?:TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY)[A-Z0-9_]*)"
        r"[\"']?[ \t]*(?::=|=|:)[ \t]*(?P<quote>[\"']?)(?P<secret>[^\s\"'`;,<>\\]{8,200})(?P=quote)",
        checks=("not_placeholder", "assignment_value"),
        min_entropy=3.0,
        window_before=60,
        window_after=240,
        severity="medium",
        confidence="medium",
        anchor_nocase=True,
        back=r"[A-Za-z0-9_]",
        # an assignment operator later on the line (a colour code may sit in between).
        tail=r"[^\n]*[:=]",
    ),
)

BY_ID = {rule.id: rule for rule in RULES}
