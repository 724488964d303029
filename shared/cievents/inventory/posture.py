"""The posture audit of one repository: each gap a finding on ``security-findings``.

    policy = PosturePolicy.from_env()                     # once, at cold start
    findings = audit_repository(repo, client, policy, clock.now_utc())

``client`` is the repository's ``cievents.scm`` client (``ScmSettings.client``); the
findings are ``cievents.findings.FindingMessage`` s, published like leaked-secret findings
so workitem_sync files and tracks them the same way (one work item per fingerprint).

Checks (``AUDIT_CHECKS``, default all of them):

``branch-protection``  the default branch is unprotected (``posture-branch-unprotected``),
                       or protected without ``AUDIT_MIN_REVIEWS`` approvals
                       (``posture-reviews-not-required``), without required checks when
                       ``AUDIT_REQUIRE_CHECKS`` (``posture-checks-not-required``), or open to
                       force pushes (``posture-force-push-allowed``); see
                       ``cievents.inventory.protection`` for what is read on each SCM.
``visibility``         a public repository whose owner matches ``AUDIT_PRIVATE_OWNERS``
                       (``posture-public-repository``).
``secret-scanning``    GitHub secret scanning / push protection reported ``disabled`` in
                       ``security_and_analysis`` (``posture-secret-scanning-disabled``,
                       ``posture-push-protection-disabled``); where GitHub does not report
                       them (plan or permission), nothing is claimed.
``stale``              no push for ``AUDIT_STALE_DAYS`` days and still open to writes (not
                       archived): ``posture-stale-writable``.

A fingerprint is sha256 of (rule, SCM, the asset's stable id): a re-audit of an unchanged
repository gives the same findings, a renamed one keeps them. The Azure DevOps
service-connection audit (``cievents.inventory.azure_connections``) builds its findings
with the same ``make_finding``.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cievents.config import env_bool, env_int, env_list
from cievents.errors import ConfigError
from cievents.findings import FindingMessage
from cievents.inventory.model import Repo
from cievents.inventory.protection import Protection, read_api, read_protection

__all__ = [
    "CHECKS",
    "FAMILY",
    "RULES",
    "SOURCE",
    "PosturePolicy",
    "audit_repository",
    "make_finding",
    "posture_finding",
    "posture_fingerprint",
]

FAMILY = "posture"
SOURCE = "repo_inventory"
CHECKS = ("branch-protection", "visibility", "secret-scanning", "stale")
# rule id → (severity, what to do about it)
RULES: Mapping[str, tuple[str, str]] = {
    "posture-branch-unprotected": (
        "high",
        "protect the default branch: require pull requests with reviews and passing checks, "
        "and block force pushes",
    ),
    "posture-reviews-not-required": (
        "medium",
        "require approving reviews before a merge into the default branch",
    ),
    "posture-checks-not-required": (
        "medium",
        "require passing status checks (CI, cievents/secret-scan) before a merge",
    ),
    "posture-force-push-allowed": (
        "high",
        "block force pushes (history rewrites) on the default branch",
    ),
    "posture-public-repository": (
        "high",
        "make the repository private, or list it as an exception to AUDIT_PRIVATE_OWNERS",
    ),
    "posture-secret-scanning-disabled": (
        "medium",
        "enable secret scanning (Settings → Code security)",
    ),
    "posture-push-protection-disabled": (
        "medium",
        "enable push protection, so pushes carrying a secret are refused",
    ),
    "posture-stale-writable": (
        "low",
        "archive the repository (read-only), or delete it, if nobody works on it any more",
    ),
    # Azure DevOps service connections (cievents.inventory.azure_connections)
    "azure-connection-all-pipelines": (
        "high",
        "turn off 'Grant access permission to all pipelines' and authorize pipelines one by "
        "one (Project settings → Service connections → Security)",
    ),
    "azure-connection-long-lived-secret": (
        "medium",
        "convert the connection to workload identity federation (no secret to leak or "
        "rotate): Edit → Convert, or az devops service-endpoint convert",
    ),
    "azure-connection-shared": (
        "medium",
        "give each project its own connection (and identity) instead of sharing one",
    ),
}


@dataclass(frozen=True)
class PosturePolicy:
    """What the audit holds repositories to (read once, at cold start)."""

    checks: frozenset[str] = frozenset(CHECKS)
    min_reviews: int = 1
    require_checks: bool = True
    private_owners: tuple[str, ...] = ()
    stale_days: int = 180

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PosturePolicy:
        """``AUDIT_CHECKS``, ``AUDIT_MIN_REVIEWS`` (default 1), ``AUDIT_REQUIRE_CHECKS``
        (default true), ``AUDIT_PRIVATE_OWNERS`` (globs of owners, ``scm:owner`` to name the
        SCM), ``AUDIT_STALE_DAYS`` (default 180; 0 turns the stale check off)."""
        checks = env_list("AUDIT_CHECKS", environ=environ) or CHECKS
        unknown = [c for c in checks if c not in CHECKS]
        if unknown:
            raise ConfigError(
                "AUDIT_CHECKS",
                f"unknown check {unknown[0]!r}; use one or more of {', '.join(CHECKS)}",
                "branch-protection,visibility",
            )
        owners = env_list("AUDIT_PRIVATE_OWNERS", environ=environ)
        for owner in owners:
            scm, sep, rest = owner.partition(":")
            if sep and (scm not in ("github", "gitlab", "bitbucket", "azure") or not rest):
                raise ConfigError(
                    "AUDIT_PRIVATE_OWNERS",
                    f"{owner!r}: the part before ':' must be github, gitlab, bitbucket or "
                    "azure, followed by an owner glob",
                    "github:acme,gitlab:acme/*",
                )
        return cls(
            checks=frozenset(checks),
            min_reviews=env_int("AUDIT_MIN_REVIEWS", 1, minimum=0, environ=environ),
            require_checks=env_bool("AUDIT_REQUIRE_CHECKS", True, environ=environ),
            private_owners=owners,
            stale_days=env_int("AUDIT_STALE_DAYS", 180, minimum=0, environ=environ),
        )

    def wants_private(self, repo: Repo) -> bool:
        for pattern in self.private_owners:
            scm, sep, glob = pattern.partition(":")
            if sep and scm != repo.scm:
                continue
            if fnmatch.fnmatchcase(repo.owner.lower(), (glob if sep else pattern).lower()):
                return True
        return False


def posture_fingerprint(rule_id: str, scm: str, asset: str, subject: str = "") -> str:
    """Stable over re-audits and renames: the rule, the SCM and the asset's own id."""
    text = f"{FAMILY}\0{rule_id}\0{scm}\0{asset}\0{subject}"
    return hashlib.sha256(text.encode()).hexdigest()


def make_finding(
    rule_id: str,
    detail: str,
    now: datetime,
    *,
    scm: str,
    asset: str,
    path: str,
    kind: str,
    subject: str = "",
    setting: Mapping[str, Any] | None = None,
    repository: str | None = None,
    branch: str | None = None,
) -> FindingMessage:
    """A posture finding about the asset ``scm:asset`` (``subject`` names a part of it)."""
    severity, fix = RULES.get(rule_id, ("medium", ""))
    location: dict[str, Any] = {
        "kind": kind,
        "path": path,
        "line": None,
        "scm": scm,
        "asset": f"{scm}:{asset}",
    }
    if subject:
        location["subject"] = subject
    if setting:
        location["setting"] = dict(setting)
    return FindingMessage(
        fingerprint=posture_fingerprint(rule_id, scm, asset, subject),
        rule_id=rule_id,
        family=FAMILY,
        severity=severity,
        confidence="high",
        preview=detail,
        location=location,
        source=SOURCE,
        repository=repository or path,
        branch=branch,
        detected_at=now.isoformat(),
        advice={"fix": fix},
    )


def posture_finding(
    rule_id: str,
    repo: Repo,
    detail: str,
    now: datetime,
    *,
    kind: str = "repository",
    setting: Mapping[str, Any] | None = None,
) -> FindingMessage:
    """A posture finding about ``repo`` (keyed by its stable id, so a rename keeps it)."""
    return make_finding(
        rule_id,
        detail,
        now,
        scm=repo.scm,
        asset=repo.id,
        path=repo.full_name,
        kind=kind,
        setting=setting,
        repository=repo.web_url or repo.full_name,
        branch=repo.default_branch,
    )


def audit_repository(
    repo: Repo, client: Any, policy: PosturePolicy, now: datetime
) -> list[FindingMessage]:
    """Every posture finding of ``repo`` now (an empty list: nothing to fix)."""
    if repo.deleted:
        return []
    out: list[FindingMessage] = []
    api = read_api(client)
    if "branch-protection" in policy.checks and repo.default_branch and not repo.empty:
        out += _protection_findings(repo, read_protection(repo, api), policy, now)
    if "visibility" in policy.checks and repo.visibility == "public" and policy.wants_private(repo):
        out.append(
            posture_finding(
                "posture-public-repository",
                repo,
                f"{repo.full_name} is public; the policy for {repo.owner} says private",
                now,
                setting={"visibility": repo.visibility},
            )
        )
    if "secret-scanning" in policy.checks and repo.scm == "github":
        out += _github_security(repo, api, now)
    if "stale" in policy.checks and policy.stale_days:
        out += _stale(repo, policy.stale_days, now)
    return out


def _stale(repo: Repo, stale_days: int, now: datetime) -> list[FindingMessage]:
    if repo.archived or repo.last_push is None or (now - repo.last_push).days < stale_days:
        return []
    days = (now - repo.last_push).days
    return [
        posture_finding(
            "posture-stale-writable",
            repo,
            f"no push for {days} days (since {repo.last_push.date()}) and not archived",
            now,
            setting={"last_push": repo.last_push.isoformat(), "archived": False},
        )
    ]


def _protection_findings(
    repo: Repo, found: Protection, policy: PosturePolicy, now: datetime
) -> list[FindingMessage]:
    branch = repo.default_branch or ""
    setting = {
        "branch": branch,
        "reviews": found.reviews,
        "checks": found.checks,
        "force_push_blocked": found.force_push_blocked,
        "sources": list(found.sources),
    }

    def finding(rule: str, detail: str) -> FindingMessage:
        return posture_finding(rule, repo, detail, now, kind="branch", setting=setting)

    if not found.protected:
        if found.unknown:
            return []  # the protection could not be read: unknown, not unprotected
        return [finding("posture-branch-unprotected", f"default branch {branch} is unprotected")]
    out = []
    if found.reviews < policy.min_reviews:
        out.append(
            finding(
                "posture-reviews-not-required",
                f"{branch} merges with {found.reviews} approving review(s); "
                f"the policy wants {policy.min_reviews}",
            )
        )
    if policy.require_checks and not found.checks:
        out.append(
            finding("posture-checks-not-required", f"{branch} merges without required checks")
        )
    if not found.force_push_blocked:
        out.append(finding("posture-force-push-allowed", f"{branch} accepts force pushes"))
    return out


def _github_security(repo: Repo, api: Any, now: datetime) -> list[FindingMessage]:
    body = api.get(f"/repos/{repo.full_name}", missing_ok=True, what="github: repository")
    analysis = (body or {}).get("security_and_analysis") or {}
    out = []
    for key, rule, name in (
        ("secret_scanning", "posture-secret-scanning-disabled", "secret scanning"),
        ("secret_scanning_push_protection", "posture-push-protection-disabled", "push protection"),
    ):
        status = (analysis.get(key) or {}).get("status")
        if status == "disabled":
            out.append(
                posture_finding(rule, repo, f"{name} is disabled", now, setting={key: status})
            )
    return out
