"""pr_compliance: branch, review and check policy on every pull request, on four SCMs.

Every event that can change a verdict (see ``cievents.compliance.trigger``) names a pull
request; its *current* state is fetched from the SCM, the first policy rule matching its
repository and target branch is evaluated, and when the verdict (or the PR's state)
changed since the last one: the ``cievents/compliance`` check/status is set on the head,
the one compliance comment is edited in place, and an audit row goes to the
``compliance`` table. Evaluations of one PR are serialized by a lock, so a late event for
an old head cannot overwrite a newer head's verdict; redeliveries find nothing changed.

Settings (cold start): ``COMPLIANCE_POLICY_FILE`` / ``COMPLIANCE_POLICY``; the SCM
credentials of ``cievents.scm``; ``JIRA_URL`` + ``JIRA_EMAIL`` + ``JIRA_API_TOKEN`` (or
``JIRA_PAT``) for ``jira_key.verify``; the metrics store of ``cievents.metrics``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cievents.compliance import (
    COMMENT_KEY,
    CONTEXT,
    TABLE,
    PullRequestRef,
    audit_row,
    comment,
    evaluate,
    load,
    needs_of,
    reference,
)
from cievents.compliance.state import Needs
from cievents.compliance.vendors import PROVIDERS, fetcher_for
from cievents.errors import TransientError
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.metrics import MetricsSettings, open_store
from cievents.scm import CheckReport, HeadInfo, PullRequest, ScmSettings
from cievents.tracker.jira import JiraSettings, issue_lookup
from cievents.vcs.repo import Repository

POLICY = load()
SCM = ScmSettings.from_env()
METRICS = MetricsSettings.from_env()
JIRA = JiraSettings.from_env()
HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}
_metrics: Any = None
_clients: dict[tuple[str, bool], Any] = {}  # one SCM client per instance (App tokens cached)


def _now() -> datetime:
    return datetime.now(UTC)


def metrics() -> Any:
    global _metrics  # noqa: PLW0603 - one store per instance
    if _metrics is None:
        _metrics = open_store(METRICS)
    return _metrics


def _publish(client: Any, ref: PullRequestRef, number: int, state: Any, verdict: Any) -> None:
    provider = PROVIDERS[ref.scm]
    pr = PullRequest(
        Repository(provider, HOSTS.get(provider, "dev.azure.com"), ref.repository),
        number,
        head_sha=state.head_sha,
        url=state.url,
    )
    # Azure's PR status names the iteration: ask for it; the others need only the head.
    head = client.pull_request(pr) if provider == "azure-repos" else HeadInfo(state.head_sha)
    if head.head_sha != state.head_sha:
        raise TransientError(f"{ref.key}: the head moved while it was evaluated; re-evaluating")
    text = comment(verdict)
    report = CheckReport(
        CONTEXT, "success" if verdict.passed else "failure", verdict.summary(), text, state.url
    )
    client.publish_check(pr, report, head)
    client.upsert_comment(pr, COMMENT_KEY, text)


def evaluate_one(
    ref: PullRequestRef, number: int, fetcher: Any, client: Any, ctx: Context
) -> tuple[bool, str]:
    """(whether anything was written, what happened) for one pull request."""
    key = ctx.state_key("pr", ref.scm, ref.repository, number)
    lock = ctx.store.claim(f"{key}:lock", lease_s=120)
    if lock.status != "claimed":
        raise TransientError(f"another execution is evaluating {ref.scm}:{ref.repository}#{number}")
    try:
        basics = fetcher.fetch(number, Needs())
        rule = POLICY.rule_for(basics.repository, basics.target_branch)
        if rule is None:
            return (
                False,
                f"#{number}: no policy rule for {basics.repository} → {basics.target_branch}",
            )
        if basics.state == "closed":
            return False, f"#{number}: closed without merging"
        state = fetcher.fetch(number, needs_of(rule.checks))
        stored = ctx.store.get_state(key)
        heads = list(stored.value.get("heads") or [])
        if (
            ref.head_sha
            and ref.head_sha in heads
            and state.head_sha in heads[: heads.index(ref.head_sha)]
        ):
            raise TransientError(
                f"#{number}: the SCM still reports head {state.head_sha[:7]}, older than "
                f"{ref.head_sha[:7]} already seen; retrying until it catches up"
            )
        verdict = evaluate(rule, state, issue_lookup(JIRA) if rule.checks.jira_key else None)
        change = f"{verdict.digest()}:{state.state}"
        if stored.value.get("change") == change:
            return False, f"#{number}: {verdict.result}, unchanged"
        sequence = int(stored.value.get("sequence") or 0) + 1
        if state.state == "open":
            _publish(client, ref, number, state, verdict)
        now = _now()
        row = audit_row(
            verdict,
            state,
            sequence=sequence,
            event=ctx.message.attributes.get("event"),
            evaluated_at=now,
            now=now,
        )
        metrics().insert(TABLE, [row])
        # Heads in the order they were evaluated (a force-push back moves a head to the end).
        heads = [h for h in heads if h != state.head_sha] + [state.head_sha]
        ctx.store.set_state(
            key,
            {
                "change": change,
                "sequence": sequence,
                "result": verdict.result,
                "heads": heads[-50:],
            },
            expected_version=stored.version,
        )
        return True, f"#{number}: {verdict.result} ({verdict.summary()})"
    finally:
        ctx.store.release(f"{key}:lock", lock.token)


@pubsub_function("pr_compliance", accepts=lambda e: reference(e) is not None)
def handle(event: Any, ctx: Context) -> Result:
    """Evaluate the pull request the event is about, from its current state."""
    ref = reference(event)
    assert ref is not None
    provider = PROVIDERS[ref.scm]
    if not SCM.has_credentials(provider):
        return skipped(f"not evaluated: no credentials to read {ref.scm} pull requests")
    key = (provider, ctx.settings.dry_run)
    if key not in _clients:
        _clients[key] = SCM.client(provider, ctx.outbox)
    client = _clients[key]
    fetcher = fetcher_for(ref, SCM, client)
    numbers = (
        [ref.number] if ref.number is not None else fetcher.pulls_for_commit(str(ref.head_sha))
    )
    if not numbers:
        return skipped(f"no open pull request has {str(ref.head_sha)[:7]} as its head")
    done = [evaluate_one(ref, n, fetcher, client, ctx) for n in numbers]
    ctx.fields.update(repository=ref.repository, pull_requests=numbers)
    detail = "; ".join(d for _, d in done)
    if not any(changed for changed, _ in done):
        return skipped(detail)
    return Result("acted", detail, provider=ref.scm, operation="evaluate")
