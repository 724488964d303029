"""Pull-request compliance: a policy of checks, the PR's current state from its SCM, the
verdict, the comment that explains it and the audit row that records it.

    policy = load()                                  # COMPLIANCE_POLICY_FILE, at cold start
    rule = policy.rule_for(state.repository, state.target_branch)
    verdict = evaluate(rule, state, jira_lookup)
    comment(verdict)                                 # the table the PR shows
    audit_row(verdict, state, ...)                   # the compliance table's row

``cievents.compliance.trigger`` says which events can change a verdict and which pull
request they are about; ``cievents.compliance.vendors`` fetches the state per SCM.
"""

from __future__ import annotations

from cievents.compliance.audit import TABLE, audit_row
from cievents.compliance.evaluate import CONTEXT, CheckOutcome, Verdict, evaluate, needs_of
from cievents.compliance.policy import Policy, Rule, load, parse_policy
from cievents.compliance.render import COMMENT_KEY, comment
from cievents.compliance.state import PullRequestRef, PullRequestState
from cievents.compliance.trigger import reference

__all__ = [
    "COMMENT_KEY",
    "CONTEXT",
    "TABLE",
    "CheckOutcome",
    "Policy",
    "PullRequestRef",
    "PullRequestState",
    "Rule",
    "Verdict",
    "audit_row",
    "comment",
    "evaluate",
    "load",
    "needs_of",
    "parse_policy",
    "reference",
]
