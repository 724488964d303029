"""The rule table: what a leaked credential looks like, family by family.

Each rule has literal *anchors* (what the multi-pattern prefilter looks for:
a token's fixed prefix, or the word that introduces it), a regex whose
``secret`` group is the credential itself, run only on a window around an
anchor hit, and the precision checks that apply: a checksum, a structure, a
minimum entropy. Anchors are matched case-insensitively unless the rule says
otherwise.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

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
    # A judge in cievents.scanning.generic that sees the whole match (name, operator,
    # quoting), for the detectors that tell code from configuration.
    judge: str | None = None

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """Compiled on first use: most rules never meet a candidate in a given scan, and
        compiling all of them would cost every process start ~50 ms."""
        # ASCII semantics: the text is scanned as latin-1, one character per byte.
        return re.compile(self.pattern, re.ASCII)


def patterns_of(rules: Iterable[Rule]) -> list[Pattern]:
    """Every prefilter pattern: each (rule, anchor) in rule order, then the anchors as they
    read inside base64 (:func:`encoded_anchors`), which send a blob to be decoded."""
    rules = tuple(rules)
    direct = [Pattern(a, rule.tail, rule.anchor_nocase) for rule in rules for a in rule.anchors]
    return direct + [Pattern(f, None, False) for f in encoded_anchors(rules)]


def encoded_anchors(rules: Iterable[Rule]) -> list[str]:
    """The base64 text every anchor becomes, at each of the three byte alignments.

    Base64 turns 3 bytes into 4 characters, so an anchor's encoding depends on where it
    falls; only the characters whose 6 bits come from the anchor alone are fixed. Those
    fragments (standard and URL-safe alphabets) find an encoded secret in one pass, with
    no blob decoded unless it holds one. Case-insensitive anchors contribute their upper-
    and lower-case spellings.
    """
    fragments: set[str] = set()
    for rule in rules:
        for anchor in rule.anchors:
            spellings = {anchor.upper(), anchor.lower()} if rule.anchor_nocase else {anchor}
            for spelling in spellings:
                raw = spelling.encode()
                if len(raw) < 4:
                    continue
                for phase in range(3):
                    text = base64.b64encode(b"\0" * phase + raw + b"\0\0").decode()
                    first = -(-8 * phase // 6)
                    last = (8 * phase + 8 * len(raw)) // 6
                    fragment = text[first:last]
                    if len(fragment) >= 4:
                        fragments.add(fragment)
                        fragments.add(fragment.replace("+", "-").replace("/", "_"))
    return sorted(fragments)


B62 = "A-Za-z0-9"
# GitLab's token prefixes (its documentation's "token prefixes" table).
GITLAB_PREFIXES = (
    "glpat-",  # personal, project and group access tokens
    "gldt-",  # deploy tokens
    "glrt-",  # runner authentication tokens
    "glrtr-",  # runner registration (routable)
    "glcbt-",  # CI/CD job tokens
    "gloas-",  # OAuth application secrets
    "glptt-",  # pipeline trigger tokens
    "glft-",  # feed tokens
    "glimt-",  # incoming mail tokens
    "glagent-",  # Kubernetes agent tokens
    "glsoat-",  # SCIM OAuth tokens
    "glffct-",  # feature flag client tokens
)
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
# A token starts after a non-token character, or after a percent-escape (``%3D`` in a
# URL-encoded query string).
_START = r"(?:(?<![A-Za-z0-9_\-])|(?<=%[0-9A-Fa-f]{2}))"


def prefixed(
    rule_id: str,
    family: str,
    description: str,
    prefixes: tuple[str, ...],
    body: str,
    *,
    window_after: int = 120,
    checks: tuple[Check, ...] = ("not_placeholder",),
    min_entropy: float = 3.0,
    severity: str = "high",
) -> Rule:
    """A token that starts with a fixed prefix: the prefixes are its anchors."""
    alternatives = "|".join(re.escape(p) for p in prefixes)
    return Rule(
        rule_id,
        family,
        description,
        prefixes,
        _START + r"(?P<secret>(?:" + alternatives + r")" + body + r")" + _END,
        checks=checks,
        min_entropy=min_entropy,
        window_after=window_after,
        severity=severity,
    )


def _hex(n: int) -> str:
    return "[a-f0-9]{" + str(n) + "}"


# The generic assignment: a credential-named NAME, an operator of any common syntax, a
# value (quoted, or bare as shells, env files, YAML, INI, properties, Makefiles and HCL
# write it). cievents.scanning.generic judges name and value, telling code from config.
ASSIGNMENT_ANCHORS = (
    "TOKEN", "PASS", "SECRET", "API_KEY", "APIKEY", "API-KEY", "PRIVATE_KEY", "ACCESS_KEY",
    "AUTH", "CREDENTIAL", "CREDS", "_PWD",
)  # fmt: skip
ASSIGNMENT = (
    r"(?P<name>[A-Za-z0-9_.\-]{1,100})"
    r"(?P<nq>[\"'`\]]{0,3})"  # a quoted name's closing quote: JSON, PHP arrays, dict['x']
    r"(?:[ \t]*:[ \t]*[A-Za-z_][\w.\[\], |]{0,60}?(?=[ \t]*=[^=>]))?"  # a type annotation
    r"(?:[ \t]+(?:string|\[\]byte))?"  # Go: var name string = "…"
    r"[ \t]*(?P<op>::=|:=|\?=|\+=|\.=|=>|=(?!=)|:(?!:)|,)[ \t]*"
    r"(?:[bBrRuU]{1,2}(?=[\"']))?"  # Python string prefixes
    r"(?P<q>[\"'`])?(?P<secret>(?(q)[^\"'`\n]{1,1000}?|[^\s\"'`;,<>&(][^\s\"'`;,<>&]{0,999}))"
    r"(?(q)(?P=q))"
)

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
        min_entropy=4.0,
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
        checks=("not_placeholder",),
        min_entropy=4.0,
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
        GITLAB_PREFIXES,
        # Legacy tokens: exactly 20 characters after the prefix (a CI job token may carry
        # a partition before them: glcbt-64_…). Routable tokens (GitLab 17.x and later): a
        # base64url payload of 27 to 300 characters, then ".<version>.<base36 CRC32>",
        # 43 to 316 characters in all. OAuth application secrets: 64 hex.
        _START
        + r"(?P<secret>gl(?:"
        + "|".join(p[2:-1] for p in GITLAB_PREFIXES)
        + r")-(?:(?:[0-9a-f]{1,5}_)?[A-Za-z0-9_\-]{20}"
        + r"|[A-Za-z0-9_\-]{27,300}\.[0-9a-z]{2}\.[0-9A-Za-z]{7,9}|[a-f0-9]{64}))"
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
        ("xoxb-", "xoxp-", "xoxa-", "xoxe", "xoxr-", "xoxs-", "xoxo-", "xapp-"),
        # bot xoxb-<n>-<n>-<key>, user xoxp-<n>-<n>-<n>-<hex>, rotating xoxe.xoxp-1-<…>,
        # refresh xoxe-1-<…>, app-level xapp-1-<id>-<n>-<hex>
        _START + r"(?P<secret>(?:xox[bparseo](?:\.xox[bp])?-[0-9]{1,13}-[A-Za-z0-9\-]{10,250}"
        r"|xapp-\d-[A-Z0-9]{9,12}-\d{9,14}-[a-f0-9]{32,80}))" + _END,
        checks=("not_placeholder",),
        window_after=300,
    ),
    Rule(
        "slack-webhook",
        "slack",
        "Slack incoming webhook URL",
        ("hooks.slack.com/",),
        # services/T…/B…/<secret>; workflows/T…/A…/<trigger id>/<secret>; http:// too.
        r"(?P<secret>https?://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}"
        r"/[A-Z0-9]{6,14}/(?:[0-9]{6,20}/)?[A-Za-z0-9]{20,40})",
        window_before=8,
        window_after=140,
        back="window",
        checks=("not_placeholder",),
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
        # the macaroon's location, base64: pypi.org, or test.pypi.org
        ("pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"),
        r"(?P<secret>pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,1000})",
        checks=("not_placeholder",),
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
        ("dd_api_key", "dd_app_key", "dd-api-key", "dd-application-key", "datadog"),
        # DD_API_KEY=…, or the key named near "datadog" on the line: datadog-ci prints
        # "uploading junit with api key <32 hex>"
        r"(?i)(?:dd[_\-](?:api|app|application)[_\-]key|datadog[^\n]{0,60}?(?:api|app|application)"
        r"[ _\-]?key)[^\n]{0,20}?(?<![a-f0-9])(?P<secret>[a-f0-9]{32}(?:[a-f0-9]{8})?)(?![a-f0-9])",
        checks=("hex_entropy",),
        window_after=120,
        anchor_nocase=True,
        back=r"[A-Za-z0-9_\-]",
        tail=r"[^\n]*[0-9a-f]{8}",
    ),
    # --- AI providers ---------------------------------------------------------------------
    Rule(
        "openai-api-key",
        "openai",
        "OpenAI API key (project, service account, admin, legacy user key)",
        ("sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ"),
        # every key OpenAI issues carries T3BlbkFJ ("OpenAI" in base64) in its middle
        _START
        + r"(?P<secret>sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_\-]{20,300}T3BlbkFJ"
        + r"[A-Za-z0-9_\-]{20,300})"
        + _END,
        checks=("not_placeholder",),
        min_entropy=4.0,
        window_before=320,
        window_after=340,
        back="window",
    ),
    prefixed(
        "anthropic-api-key",
        "anthropic",
        "Anthropic API or admin key",
        ("sk-ant-",),
        r"(?:api|admin|oat)[0-9]{2}-[A-Za-z0-9_\-]{80,120}AA",
        window_after=140,
    ),
    Rule(
        "huggingface-token",
        "huggingface",
        "Hugging Face user or organization access token",
        ("hf_", "api_org_"),
        # 34 letters after the prefix, nothing else
        _START + r"(?P<secret>(?:hf_|api_org_)[A-Za-z]{34})" + _END,
        checks=("not_placeholder",),
        min_entropy=3.8,
        window_after=45,
    ),
    prefixed(
        "perplexity-api-key", "perplexity", "Perplexity API key", ("pplx-",), r"[A-Za-z0-9]{48}"
    ),
    prefixed("groq-api-key", "groq", "Groq API key", ("gsk_",), r"[A-Za-z0-9]{52}"),
    prefixed(
        "replicate-api-token", "replicate", "Replicate API token", ("r8_",), r"[A-Za-z0-9]{37}"
    ),
    prefixed("xai-api-key", "xai", "xAI API key", ("xai-",), r"[A-Za-z0-9]{80}"),
    prefixed("openrouter-api-key", "openrouter", "OpenRouter API key", ("sk-or-v1-",), _hex(64)),
    prefixed(
        "langsmith-api-key",
        "langsmith",
        "LangSmith API key",
        ("lsv2_pt_", "lsv2_sk_"),
        _hex(32) + "_" + r"[a-f0-9]{10}",
    ),
    prefixed(
        "pinecone-api-key",
        "pinecone",
        "Pinecone API key",
        ("pcsk_",),
        r"[A-Za-z0-9]{4,8}_[A-Za-z0-9]{50,80}",
    ),
    # --- observability and error tracking ------------------------------------------------
    prefixed(
        "sentry-token",
        "sentry",
        "Sentry organization or user auth token",
        ("sntrys_", "sntryu_"),
        # org tokens: base64 JSON claims, then _ and the secret; user tokens: 64 hex
        r"(?:eyJ[A-Za-z0-9+/=_\-]{20,600}_[A-Za-z0-9+/_\-]{43}|[a-f0-9]{64})",
        window_after=700,
    ),
    prefixed(
        "newrelic-key",
        "newrelic",
        "New Relic user API key, insert key or browser key",
        ("NRAK-", "NRII-", "NRJS-"),
        r"(?:[A-Z0-9]{27}|[A-Za-z0-9_\-]{32}|[a-f0-9]{19})",
    ),
    prefixed(
        "grafana-token",
        "grafana",
        "Grafana service account token or Grafana Cloud token",
        ("glsa_", "glc_"),
        r"(?:[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|[A-Za-z0-9+/]{32,400}={0,2})",
        window_after=420,
    ),
    prefixed(
        "dynatrace-token",
        "dynatrace",
        "Dynatrace API token",
        ("dt0c01.", "dt0s01.", "dt0s16."),
        r"[A-Z0-9]{24}\.[A-Z0-9]{64}",
    ),
    # --- package and container registries -----------------------------------------------
    prefixed("rubygems-api-key", "rubygems", "RubyGems API key", ("rubygems_",), _hex(48)),
    prefixed("nuget-api-key", "nuget", "NuGet API key", ("oy2",), r"[a-z0-9]{43}", min_entropy=4.0),
    prefixed(
        "cratesio-token",
        "cratesio",
        "crates.io API token",
        ("cio",),
        r"[A-Za-z0-9]{32}",
        min_entropy=4.0,
    ),
    prefixed("clojars-token", "clojars", "Clojars deploy token", ("CLOJARS_",), r"[a-z0-9]{60}"),
    prefixed(
        "jfrog-token",
        "jfrog",
        "JFrog Artifactory API key or reference token",
        ("AKCp", "cmVmdGtuOjAxOj"),
        r"[A-Za-z0-9]{50,80}",
        min_entropy=4.0,
    ),
    # --- code quality and security SaaS -------------------------------------------------
    prefixed(
        "sonar-token",
        "sonar",
        "SonarQube / SonarCloud token (project, user, global analysis)",
        ("sqp_", "squ_", "sqa_"),
        _hex(40),
    ),
    Rule(
        "sonar-token-context",
        "sonar",
        "SonarCloud / SonarQube token named by its variable or property",
        ("sonar",),
        r"(?i)sonar[\w.\-]{0,20}(?:token|login|password)[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?P<secret>[a-f0-9]{40})(?![a-f0-9])",
        checks=("hex_entropy",),
        window_after=100,
        anchor_nocase=True,
        back=r"[A-Za-z0-9_.\-]",
    ),
    Rule(
        "snyk-token",
        "snyk",
        "Snyk API token",
        ("snyk",),
        r"(?i)snyk(?:[\w.\-]{0,20}(?:token|key|api)[\w\-]{0,10}[\"']?[ \t]*[:=][ \t]*[\"']?|[ \t]+auth[ \t]+)"
        r"(?P<secret>[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})(?![a-f0-9])",
        window_after=110,
        anchor_nocase=True,
        back=r"[A-Za-z0-9_.\-]",
    ),
    Rule(
        "codecov-token",
        "codecov",
        "Codecov upload token",
        ("codecov",),
        r"(?i)codecov[\w\-]{0,10}token[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?P<secret>[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})(?![a-f0-9])",
        window_after=90,
        anchor_nocase=True,
        back=r"[A-Za-z0-9_.\-]",
    ),
    prefixed(
        "sourcegraph-token",
        "sourcegraph",
        "Sourcegraph access token",
        ("sgp_", "sgs_"),
        r"(?:[a-f0-9]{16}_|local_)?[a-f0-9]{40}",
    ),
    # --- chat webhooks and bots ---------------------------------------------------------
    Rule(
        "teams-webhook",
        "teams",
        "Microsoft Teams incoming webhook or Power Automate workflow URL",
        ("webhook.office.com/", "outlook.office.com/webhook", "/triggers/manual/paths/invoke"),
        r"(?P<secret>https://(?:[A-Za-z0-9\-]+\.webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)"
        r"/[0-9a-f\-]{36}@[0-9a-f\-]{36}/IncomingWebhook/[0-9a-f]{32}/[0-9a-f\-]{36}"
        r"(?:/V2[A-Za-z0-9_\-]{30,60})?"
        r"|https://[A-Za-z0-9.\-]+\.logic\.azure\.com(?::443)?/workflows/[0-9a-f]{32}/triggers/manual"
        r"/paths/invoke\?[^\s\"'<>]*?sig=[A-Za-z0-9_\-%]{40,50})",
        checks=("not_placeholder",),
        window_before=60,
        window_after=400,
        back="window",
    ),
    Rule(
        "discord-webhook",
        "discord",
        "Discord webhook URL",
        ("discord.com/api/webhooks/", "discordapp.com/api/webhooks/"),
        r"(?P<secret>https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}"
        r"/[A-Za-z0-9_\-]{60,80})",
        checks=("not_placeholder",),
        window_before=24,
        window_after=120,
        back="window",
    ),
    Rule(
        "telegram-bot-token",
        "telegram",
        "Telegram bot token",
        (":AA",),
        r"(?<![0-9])(?P<secret>[0-9]{8,10}:AA[A-Za-z0-9_\-]{33})(?![A-Za-z0-9_\-])",
        checks=("not_placeholder",),
        min_entropy=3.5,
        window_before=12,
        window_after=40,
        back="window",
        tail=r"[A-Za-z0-9_\-]{33}",
    ),
    Rule(
        "google-chat-webhook",
        "google-chat",
        "Google Chat incoming webhook URL",
        ("chat.googleapis.com/v1/spaces/",),
        r"(?P<secret>https://chat\.googleapis\.com/v1/spaces/[A-Za-z0-9_\-]{8,20}/messages\?"
        r"[^\s\"'<>]*?token=[A-Za-z0-9_\-%=]{30,80})",
        window_before=10,
        window_after=240,
        back="window",
    ),
    # --- infrastructure and platform tokens ---------------------------------------------
    prefixed(
        "vault-token",
        "hashicorp",
        "HashiCorp Vault service or batch token",
        ("hvs.", "hvb."),
        r"[A-Za-z0-9_\-]{90,300}",
        window_after=320,
    ),
    Rule(
        "terraform-cloud-token",
        "hashicorp",
        "Terraform Cloud / Enterprise API token",
        (".atlasv1.",),
        r"(?<![A-Za-z0-9])(?P<secret>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,70})(?![A-Za-z0-9_\-=])",
        checks=("not_placeholder",),
        window_before=16,
        window_after=80,
        back="window",
    ),
    prefixed("pulumi-token", "pulumi", "Pulumi access token", ("pul-",), _hex(40)),
    prefixed(
        "doppler-token",
        "doppler",
        "Doppler token (personal, service, service account, CLI, SCIM, audit)",
        ("dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."),
        r"(?:[a-z0-9_\-]{2,35}\.)?[A-Za-z0-9]{40,44}",
    ),
    prefixed(
        "digitalocean-token",
        "digitalocean",
        "DigitalOcean personal, OAuth or refresh token",
        ("dop_v1_", "doo_v1_", "dor_v1_"),
        _hex(64),
    ),
    prefixed(
        "heroku-token", "heroku", "Heroku API key (new format)", ("HRKU-AA",), r"[A-Za-z0-9_\-]{58}"
    ),
    prefixed("flyio-token", "flyio", "Fly.io access token", ("fo1_",), r"[A-Za-z0-9_\-]{43}"),
    prefixed(
        "netlify-token", "netlify", "Netlify personal access token", ("nfp_",), r"[A-Za-z0-9]{36}"
    ),
    prefixed("render-api-key", "render", "Render API key", ("rnd_",), r"[A-Za-z0-9]{32}"),
    prefixed("supabase-token", "supabase", "Supabase access token", ("sbp_",), _hex(40)),
    prefixed(
        "planetscale-token",
        "planetscale",
        "PlanetScale service token, password or OAuth token",
        ("pscale_tkn_", "pscale_pw_", "pscale_oauth_"),
        r"[A-Za-z0-9_\-.]{32,64}",
    ),
    prefixed(
        "databricks-token",
        "databricks",
        "Databricks access token",
        ("dapi",),
        _hex(32) + r"(?:-[0-9])?",
    ),
    prefixed(
        "shopify-token",
        "shopify",
        "Shopify access token or shared secret",
        ("shpat_", "shpss_", "shpca_", "shppa_"),
        r"[a-fA-F0-9]{32}",
    ),
    prefixed(
        "postman-api-key", "postman", "Postman API key", ("PMAK-",), _hex(24) + "-" + _hex(34)
    ),
    prefixed(
        "linear-api-key",
        "linear",
        "Linear API key",
        ("lin_api_", "lin_oauth_"),
        r"(?:[A-Za-z0-9]{40}|[a-f0-9]{64})",
    ),
    prefixed(
        "notion-token",
        "notion",
        "Notion integration token",
        ("ntn_", "secret_"),
        # ntn_<46> today; secret_<43> before September 2024
        r"(?:(?<=ntn_)[A-Za-z0-9]{46}|(?<=secret_)[A-Za-z0-9]{43})",
        checks=("not_placeholder", "not_words"),
        min_entropy=4.0,
    ),
    prefixed(
        "age-secret-key",
        "age",
        "age (file encryption) secret key",
        ("AGE-SECRET-KEY-1",),
        r"[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        checks=("age_bech32",),
        min_entropy=0.0,
    ),
    prefixed(
        "onepassword-token",
        "1password",
        "1Password service account token",
        ("ops_eyJ",),
        r"[A-Za-z0-9+/_\-]{250,}={0,3}",
        window_after=2000,
    ),
    prefixed(
        "figma-token", "figma", "Figma personal access token", ("figd_",), r"[A-Za-z0-9_\-]{40}"
    ),
    prefixed(
        "hubspot-token",
        "hubspot",
        "HubSpot private app token",
        ("pat-na1-", "pat-eu1-"),
        r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
    ),
    prefixed(
        "circleci-token",
        "circleci",
        "CircleCI personal or project API token",
        ("CCIPAT_", "CCIPRJ_"),
        r"[A-Za-z0-9]{22}_[a-f0-9]{40}",
    ),
    prefixed(
        "alibaba-access-key", "alibaba", "Alibaba Cloud AccessKey ID", ("LTAI",), r"[A-Za-z0-9]{20}"
    ),
    prefixed(
        "mapbox-secret-token",
        "mapbox",
        "Mapbox secret token",
        ("sk.eyJ",),
        r"[A-Za-z0-9_\-]{50,}\.[A-Za-z0-9_\-]{20,}",
    ),
    prefixed(
        "google-oauth",
        "gcp",
        "Google OAuth client secret or access token",
        ("GOCSPX-", "ya29."),
        r"(?:(?<=GOCSPX-)[A-Za-z0-9_\-]{28}|(?<=ya29\.)[A-Za-z0-9_\-]{50,400})",
        window_after=420,
    ),
    Rule(
        "azure-ad-client-secret",
        "azure",
        "Microsoft Entra ID (Azure AD) client secret",
        ("Q~",),
        r"(?<![A-Za-z0-9_~.\-])(?P<secret>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})"
        r"(?![A-Za-z0-9_~.\-])",
        checks=("not_placeholder",),
        min_entropy=3.8,
        window_before=6,
        window_after=40,
        back="window",
        tail=r"[A-Za-z0-9_~.\-]{31}",
    ),
    Rule(
        "azure-devops-pat",
        "azure",
        "Azure DevOps personal access token (identifiable format)",
        ("AZDO",),
        r"(?<![A-Za-z0-9])(?P<secret>[A-Za-z0-9]{52}JQQJ9[9DH][A-Za-z0-9]{18}AZDO[A-Za-z0-9]{4})"
        r"(?![A-Za-z0-9])",
        window_before=80,
        window_after=8,
        back="window",
    ),
    prefixed(
        "square-token",
        "square",
        "Square access token or application secret",
        ("sq0atp-", "sq0csp-"),
        r"(?:(?<=sq0atp-)[A-Za-z0-9_\-]{22}|(?<=sq0csp-)[A-Za-z0-9_\-]{43})",
    ),
    prefixed(
        "stripe-webhook-secret",
        "stripe",
        "Stripe webhook signing secret",
        ("whsec_",),
        r"[A-Za-z0-9]{32,64}",
    ),
    prefixed(
        "mailgun-api-key",
        "mailgun",
        "Mailgun API key",
        ("key-",),
        _hex(32),
        checks=("hex_entropy",),
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
        # an unsigned token (alg none) ends with its second dot
        _START
        + r"(?P<secret>eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.(?:[A-Za-z0-9_\-]{16,})?)"
        + r"(?![A-Za-z0-9_\-.])",
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
        "Credential-named assignment holding a random literal",
        ASSIGNMENT_ANCHORS,
        ASSIGNMENT,
        window_before=80,
        window_after=1100,
        severity="medium",
        confidence="medium",
        anchor_nocase=True,
        back=r"[A-Za-z0-9_.\-]",
        # an assignment operator later on the line, then something other than "(" (a call,
        # Terraform's "(sensitive value)"; a colour code may sit in between), or a quoted
        # name then a comma: setProperty("password", "…")
        tail=r"[^\n]*(?:[:=][ \t]*[^(\s]|[\"'],)",
        judge="assignment",
    ),
    Rule(
        "bearer-token",
        "bearer",
        "Opaque bearer token in an Authorization header",
        ("bearer",),
        r"(?i)authorization[\"']?[ \t]*[:=][ \t]*[\"']?bearer[ \t]+"
        r"(?P<secret>[A-Za-z0-9_\-.~+/]{20,2000}=*)(?![A-Za-z0-9_\-.~+/=])",
        window_before=60,
        window_after=2050,
        severity="medium",
        confidence="medium",
        anchor_nocase=True,
        back="window",
        tail=r"[ \t]+[A-Za-z0-9_\-.~+/]{20}",
        judge="bearer",
    ),
)

BY_ID = {rule.id: rule for rule in RULES}
# Families with no format of their own: a specific rule's match on the same secret wins.
GENERIC_FAMILIES = frozenset({"assignment", "bearer"})
