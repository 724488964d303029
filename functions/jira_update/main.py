"""jira_update: a comment on each Jira issue a finished build names, and optional transitions.

Issue keys (``PROJ-123``) come from the commit message and the branch name,
filtered to ``JIRA_PROJECTS`` when set. Each (build, key) gets one comment,
never two, even under redelivery or partial failure: every key has its own
claim, so a retry after a transient error comments only where it has not.
An unknown or inaccessible key is logged and skipped; the others go on.

Transitions (``JIRA_TRANSITIONS``, JSON): a list of rules such as
``[{"state": "failed", "branch": "main", "to": "Needs Review"}]``; a rule
applies when the build's state and branch (glob) match, and only when the
named transition is available from the issue's current status.

Settings: ``JIRA_URL``; ``JIRA_EMAIL`` + ``JIRA_API_TOKEN`` (Cloud) or
``JIRA_PAT`` (Server / Data Center); ``JIRA_PROJECTS``; ``JIRA_TRANSITIONS``;
``JIRA_TIMEOUT_S``. Without URL and credentials, or with ``CIEVENTS_DRY_RUN``,
the requests are recorded in the outbox.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cievents import effects, jirakeys, log
from cievents.config import env_list, env_opt
from cievents.errors import AuthError, ConfigError, PermanentError, TransientError
from cievents.events import BuildEvent
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.notify.render import duration_text
from cievents.outbox import Outbox
from cievents.tracker.jira import JiraSettings, classify, hidden_marker, make_client


@dataclass(frozen=True)
class TransitionRule:
    state: str
    branch: str
    to: str


def _rules(raw: str | None) -> tuple[TransitionRule, ...]:
    if not raw:
        return ()
    try:
        data = json.loads(raw)
        rules = tuple(
            TransitionRule(str(r["state"]), str(r.get("branch", "*")), str(r["to"])) for r in data
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(
            "JIRA_TRANSITIONS", f"expected a JSON list of {{state, branch, to}}: {exc}"
        ) from None
    return rules


JIRA = JiraSettings.from_env()
PROJECTS = env_list("JIRA_PROJECTS")
TRANSITIONS = _rules(env_opt("JIRA_TRANSITIONS"))
_client: Any = None


def client() -> Any:
    global _client  # noqa: PLW0603 - one client per instance
    if _client is None:
        _client = make_client(JIRA)
    return _client


def comment_text(event: BuildEvent) -> str:
    state = "blocked" if event.blocked else event.state
    lines = [f"Build #{event.number} {state}: {event.url or ''}".rstrip(": ")]
    details = [f"pipeline {event.pipeline}"]
    if event.branch:
        details.append(f"branch {event.branch}")
    if event.commit:
        details.append(f"commit {event.short_commit}")
    if event.duration_s is not None:
        details.append(f"took {duration_text(event.duration_s)}")
    lines.append(", ".join(details))
    return "\n".join(lines)


class JiraActions:
    """Comment and transition, for real or into the outbox."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dry = ctx.settings.dry_run or not (JIRA.url and JIRA.has_credentials)
        self.outbox = Outbox(ctx.settings.outbox_dir) if self.dry else None
        self.base = JIRA.url or "https://jira.invalid"

    def comment(self, build: str, key: str, text: str) -> str:
        """One comment per (build, issue): a lost answer is reconciled by the comment's
        hidden marker before commenting again."""

        def create(marker: str) -> Mapping[str, Any]:
            body = f"{text}\n{hidden_marker(marker)}"
            if self.outbox is not None:
                self.outbox.record(
                    "jira", "POST", f"{self.base}/rest/api/2/issue/{key}/comment", {"body": body}
                )
                return {"id": "dry-run"}
            try:
                return {"id": str(client().add_comment(key, body).id)}
            except Exception as exc:
                raise classify(exc, f"jira: comment on {key}") from None

        def find(marker: str, _since: float) -> Mapping[str, Any] | None:
            if self.outbox is not None:
                return None
            try:
                comments = client().comments(key)
            except Exception as exc:
                raise classify(exc, f"jira: comments of {key}") from None
            mine = [c for c in comments if hidden_marker(marker) in str(getattr(c, "body", ""))]
            return {"id": str(mine[0].id)} if mine else None

        done = effects.once(self.ctx.store, self.ctx.state_key("comment", build, key), create, find)
        return {"found": "commented (reconciled)", "recorded": "done before"}.get(
            done.how, "commented"
        )

    def transition(self, key: str, name: str) -> bool:
        if self.outbox is not None:
            self.outbox.record(
                "jira",
                "POST",
                f"{self.base}/rest/api/2/issue/{key}/transitions",
                {"transition": {"name": name}},
            )
            return True
        try:
            available = client().transitions(key)
            match = next(
                (t for t in available if str(t.get("name", "")).lower() == name.lower()), None
            )
            if match is None:
                log.logger.info(
                    "transition not available from the issue's current status",
                    issue=key,
                    transition=name,
                )
                return False
            client().transition_issue(key, match["id"])
            return True
        except Exception as exc:
            raise classify(exc, f"jira: transition {key}") from None


def _once(ctx: Context, key: str, action: Any) -> str:
    """Run ``action`` at most once for ``key``: a claim each, released on transient errors."""
    claim = ctx.store.claim(f"jira_update:{key}")
    if claim.status == "duplicate":
        return "done before"
    if claim.status == "busy":
        raise TransientError(f"another execution is working on {key}")
    try:
        outcome = str(action())
    except (TransientError, AuthError):
        # An auth failure is not the issue's fault: the whole message is dead-lettered and
        # replayed once the credential is fixed, so nothing is marked done.
        ctx.store.release(f"jira_update:{key}", claim.token)
        raise
    except PermanentError as exc:
        ctx.store.complete(f"jira_update:{key}", claim.token, f"failed:{exc.reason}")
        return f"failed [{exc.reason}]: {exc.message}"
    ctx.store.complete(f"jira_update:{key}", claim.token, outcome)
    return outcome


@pubsub_function(
    "jira_update",
    accepts=lambda e: isinstance(e, BuildEvent) and e.is_final,
    key=lambda m, e: f"{e.build_id or e.number}:{e.state}:{e.blocked}",
)
def handle(event: Any, ctx: Context) -> Result:
    """Comment on (and maybe transition) every Jira issue the build names."""
    assert isinstance(event, BuildEvent)
    keys = jirakeys.extract(event.message, event.branch, projects=PROJECTS or None)
    if not keys:
        return skipped(
            "the build names no Jira issue" + (f" in {', '.join(PROJECTS)}" if PROJECTS else "")
        )
    actions = JiraActions(ctx)
    build = event.build_id or f"{event.pipeline}#{event.number}"
    done: dict[str, str] = {}
    text = comment_text(event)
    for key in keys:
        # No claim of its own: ``effects.once`` already makes the comment exactly once (its
        # versioned intent refuses a second writer) and answers a redelivery from its record.
        try:
            done[key] = actions.comment(build, key, text)
        except PermanentError as exc:
            done[key] = f"failed [{exc.reason}]: {exc.message}"
        state = "blocked" if event.blocked else event.state
        for rule in TRANSITIONS:
            if rule.state == state and fnmatch.fnmatchcase(event.branch or "", rule.branch):
                moved = _once(
                    ctx,
                    f"transition:{build}:{key}:{rule.to}",
                    lambda key=key, rule=rule: "moved"
                    if actions.transition(key, rule.to)
                    else "unavailable",
                )
                done[key] += f", transition to {rule.to}: {moved}"
    ctx.fields["issues"] = done
    failed = [k for k, v in done.items() if v.startswith("failed")]
    if failed and len(failed) == len(keys):
        raise PermanentError(
            f"no issue could be updated: {'; '.join(done[k] for k in failed)}",
            reason=done[failed[0]].split("[", 1)[1].split("]", 1)[0],
        )
    return Result(
        "acted",
        "; ".join(f"{k}: {v}" for k, v in done.items()),
        provider="jira",
        operation="comment",
    )
