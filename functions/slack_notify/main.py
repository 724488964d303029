"""slack_notify: one Slack message per build, updated in place; failed jobs in its thread.

The first event of a build that the routing rules send to a channel posts
the message; every later event of that build updates it (``chat.update``,
with the channel ID the post returned) as it moves scheduled → running →
passed / failed / canceled. A late or redelivered event never moves the
message back (a ``build.running`` after ``build.finished`` leaves it red).
``changed: true`` rules are decided by build number, not arrival
(``cievents.notify.changes``): a recovery that arrived before the failure it
recovers from is announced when the failure arrives, and a message posted as
news that a late earlier build shows was not news is deleted (with its thread).
Each failed job gets one thread reply under the message, even when the job
failure arrives before the build message exists (it waits in state and is
threaded when the message is posted). On failure the commit author is
mentioned when their e-mail maps to a Slack user.

Work on one build message is serialized by a short claim in the
idempotency store, so concurrent deliveries cannot post twice or update out
of order.

Posts to a channel draw on one budget shared by every instance (the store
keeps it; ``cievents.ratelimit``). When a channel's posts are booked more than
``SLACK_DIGEST_AFTER_S`` ahead, a new build joins the channel's digest (one
message for many builds, details in its thread: ``cievents.notify.digest``)
instead of queueing behind the others; builds people watch keep their own
message: pipelines matching ``SLACK_WATCH`` (``pipeline`` or
``pipeline@branch`` globs, comma-separated) and builds started by hand in the
Buildkite UI.

Settings: ``SLACK_BOT_TOKEN`` (without it: dry run into the outbox),
``SLACK_API_URL``, ``SLACK_MENTION_AUTHORS`` (default true),
``SLACK_MIN_POST_INTERVAL_S`` (spacing of posts per channel, default 1),
``SLACK_MAX_INLINE_WAIT_S`` (longest Retry-After waited in-call, default 2),
``SLACK_DIGEST_AFTER_S`` (default 2), ``SLACK_WATCH``,
``CIEVENTS_BUDGET_MAX_WAIT_S`` (longest in-call wait for a booked slot, default 10),
``SLACK_CHANNEL`` (used by the default routing rules),
``CIEVENTS_ROUTING_FILE``.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from cievents import effects, log, routing
from cievents.config import env_bool, env_float, env_list, env_opt
from cievents.envelope import Message
from cievents.errors import TransientError
from cievents.events import BuildEvent, JobEvent
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.idempotency import State, Store, update_state
from cievents.notify import blocks, changes
from cievents.notify.digest import Digests
from cievents.notify.render import BuildSummary, rank, shown_state, summary_of_job
from cievents.notify.slack import SlackClient
from cievents.outbox import Outbox
from cievents.ratelimit import Budget, max_wait_s


@dataclass(frozen=True)
class Settings:
    token: str | None
    api_url: str | None
    mention_authors: bool
    min_post_interval_s: float
    max_inline_wait_s: float
    digest_after_s: float
    watch: tuple[str, ...]

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            token=env_opt("SLACK_BOT_TOKEN"),
            api_url=env_opt("SLACK_API_URL"),
            mention_authors=env_bool("SLACK_MENTION_AUTHORS", True),
            min_post_interval_s=env_float("SLACK_MIN_POST_INTERVAL_S", 1.0, minimum=0),
            max_inline_wait_s=env_float("SLACK_MAX_INLINE_WAIT_S", 2.0, minimum=0),
            digest_after_s=env_float("SLACK_DIGEST_AFTER_S", 2.0, minimum=0),
            watch=env_list("SLACK_WATCH"),
        )


SETTINGS = Settings.from_env()
ROUTES = routing.load()
_client: SlackClient | None = None


def client(ctx: Context) -> SlackClient:
    """The Slack client, created on first use; dry run without a token or with CIEVENTS_DRY_RUN."""
    global _client  # noqa: PLW0603 - one client per instance
    if _client is None:
        dry = ctx.settings.dry_run or not SETTINGS.token
        _client = SlackClient(
            None if dry else SETTINGS.token,
            base_url=SETTINGS.api_url,
            outbox=Outbox(ctx.settings.outbox_dir) if dry else None,
            min_interval_s=SETTINGS.min_post_interval_s,
            max_inline_wait_s=SETTINGS.max_inline_wait_s,
            budget=None if dry else Budget(ctx.store),
            max_slot_wait_s=max_wait_s(),
        )
    return _client


def watched(event: BuildEvent) -> bool:
    """Builds people are watching keep their own message, even in a burst."""
    names = (event.pipeline, f"{event.pipeline}@{event.branch or ''}")
    return event.build_source == "ui" or any(
        fnmatch.fnmatchcase(name, pattern) for pattern in SETTINGS.watch for name in names
    )


def build_key(event: BuildEvent | JobEvent) -> str:
    return event.build_id or f"{event.organization}/{event.pipeline}/{event.number}"


def event_key(message: Message, event: Any) -> str:
    if isinstance(event, JobEvent):
        return f"job:{event.job_id}:{event.event}:{event.state}"
    return f"build:{build_key(event)}:{event.event}:{shown_state(event)}"


class BuildMessage:
    """One build's messages (one per channel) and its failed jobs, in store state."""

    def __init__(self, ctx: Context, key: str) -> None:
        self.ctx = ctx
        self.store: Store = ctx.store
        self.key = key
        self.messages_key = ctx.state_key("build", key)
        self.jobs_key = ctx.state_key("jobs", key)
        self._read: State | None = None  # the messages' state as last read, for the next write

    def channels(self) -> dict[str, Mapping[str, Any]]:
        self._read = self.store.get_state(self.messages_key)
        return dict(self._read.value.get("channels") or {})

    def failed_jobs(self) -> dict[str, Mapping[str, Any]]:
        return dict(self.store.get_state(self.jobs_key).value.get("failed") or {})

    def remember_failed_job(self, job: JobEvent) -> None:
        text, job_blocks = blocks.job_reply(job)
        entry = {"text": text, "blocks": job_blocks}

        def add(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
            failed = dict(current.get("failed") or {})
            if job.job_id in failed:
                return None
            failed[job.job_id] = entry
            return {"failed": failed}

        update_state(self.store, self.jobs_key, add)

    def _save_channel(self, channel: str, record: Mapping[str, Any]) -> None:
        def put(current: Mapping[str, Any]) -> Mapping[str, Any]:
            channels = dict(current.get("channels") or {})
            channels[channel] = dict(record)
            return {"channels": channels}

        known, self._read = self._read, None
        update_state(self.store, self.messages_key, put, known=known)

    def sync(
        self,
        channel: str,
        summary: BuildSummary | None,
        mention: str | None,
        watched: bool = False,
        by_change: bool = False,
    ) -> str:
        """Post or update the message in ``channel``, then thread pending failed jobs.

        Runs under a per-(build, channel) claim so no two executions interleave.
        ``by_change``: the channel gets the message only because the build is news (a
        ``changed: true`` rule), so it is deleted if a late earlier build shows it is not.
        Returns what it did, for the outcome line.
        """
        with self._locked(channel):
            return self._sync_locked(channel, summary, mention, watched, by_change)

    def retract(self, channel: str) -> str:
        """Delete the message (and the failed-job replies under it) posted in ``channel``
        as news; a later answer that it is news again posts it afresh."""
        with self._locked(channel):
            record = dict(self.channels().get(channel) or {})
            if not record.get("ts"):
                return "unchanged"
            slack = client(self.ctx)
            for job_id in record.get("threaded") or []:
                key = self.ctx.state_key("reply", self.key, channel, job_id)
                reply = self.store.get_state(key).value.get("result")
                if isinstance(reply, Mapping):
                    slack.delete(str(reply["id"]), str(reply["ts"]))
                self.store.set_state(key, {})
            slack.delete(str(record["id"]), str(record["ts"]))
            self.store.set_state(self.ctx.state_key("post", self.key, channel), {})

            def drop(current: Mapping[str, Any]) -> Mapping[str, Any]:
                channels = dict(current.get("channels") or {})
                channels.pop(channel, None)
                return {"channels": channels}

            update_state(self.store, self.messages_key, drop)
            return "retracted"

    @contextmanager
    def _locked(self, channel: str) -> Iterator[None]:
        lock = f"slack_notify:lock:{self.key}:{channel}"
        claim = self.store.claim(lock, lease_s=60)
        if claim.status != "claimed":
            raise TransientError(f"another execution is updating build {self.key} in {channel}")
        try:
            yield
        finally:
            self.store.release(lock, claim.token)

    def _post_once(
        self,
        effect: tuple[str, ...],
        channel: str,
        text: str,
        message_blocks: list[dict[str, Any]],
        thread_ts: str | None = None,
        pace_as: str | None = None,
    ) -> tuple[str, str]:
        """Post exactly once: a lost answer is reconciled from the message's metadata."""
        slack = client(self.ctx)

        def create(marker: str) -> Mapping[str, Any]:
            channel_id, ts = slack.post(
                channel, text, message_blocks, thread_ts, marker=marker, pace_as=pace_as
            )
            return {"id": channel_id, "ts": ts}

        def find(marker: str, since: float) -> Mapping[str, Any] | None:
            found = slack.find_post(channel, marker, since, thread_ts)
            return {"id": found[0], "ts": found[1]} if found else None

        done = effects.once(self.store, self.ctx.state_key(*effect), create, find)
        if done.how == "found":
            log.logger.info("reconciled a post whose answer was lost", ts=done.result["ts"])
        return str(done.result["id"]), str(done.result["ts"])

    def _coalesced(self, channel: str, summary: BuildSummary, watched: bool) -> str | None:
        """'digested' when the build joined the channel's digest (or one showed it already)."""
        digests = Digests(self.store, client(self.ctx))
        shown, crowded = digests.look(channel, self.key, SETTINGS.digest_after_s)
        if shown:
            # A redelivery whose flush was cut short: the builds it was posting wait for it.
            digests.flush(channel)
            return "unchanged"
        if watched or not crowded:
            return None
        digests.add(channel, self.key, summary)
        digests.flush(channel)
        return "digested"

    def _sync_locked(
        self,
        channel: str,
        summary: BuildSummary | None,
        mention: str | None,
        watched: bool,
        by_change: bool,
    ) -> str:
        slack = client(self.ctx)
        record = dict(self.channels().get(channel) or {})
        if summary is not None and not record.get("ts"):
            coalesced = self._coalesced(channel, summary, watched)
            if coalesced:
                return coalesced
        did = "unchanged"
        if summary is not None:
            new_rank = rank(summary.state)
            text, message_blocks = (
                blocks.fallback_text(summary),
                blocks.build_blocks(summary, mention),
            )
            if not record.get("ts"):
                channel_id, ts = self._post_once(
                    ("post", self.key, channel), channel, text, message_blocks
                )
                record = {
                    "id": channel_id,
                    "ts": ts,
                    "rank": new_rank,
                    "state": summary.state,
                    "threaded": [],
                    "by_change": by_change,
                }
                self._save_channel(channel, record)
                did = "posted"
            elif new_rank > int(record.get("rank", -1)) or (
                new_rank == int(record.get("rank", -1))
                and summary.state != record.get("state")
                and new_rank < 3
            ):
                slack.update(str(record["id"]), str(record["ts"]), text, message_blocks)
                record.update(rank=new_rank, state=summary.state)
                self._save_channel(channel, record)
                did = "updated"
        if record.get("ts"):
            threaded = list(record.get("threaded") or [])
            for job_id, reply in self.failed_jobs().items():
                if job_id in threaded:
                    continue
                self._post_once(
                    ("reply", self.key, channel, job_id),
                    str(record["id"]),
                    str(reply["text"]),
                    list(reply["blocks"]),
                    thread_ts=str(record["ts"]),
                    pace_as=channel,
                )
                threaded.append(job_id)
                record["threaded"] = threaded
                self._save_channel(channel, record)
                did = did if did != "unchanged" else "threaded"
        return did


def _mention(ctx: Context, failed: bool, email: str | None) -> str | None:
    if not SETTINGS.mention_authors or not failed or not email:
        return None
    user = client(ctx).user_for_email(email)
    return f"<@{user}>" if user else None


def _held(event: BuildEvent) -> dict[str, Any]:
    """What announcing this build later needs, without its event (``changes.Revision``)."""
    return {
        "key": build_key(event),
        "summary": asdict(BuildSummary.of(event)),
        "source": event.source,
        "event": event.event,
        "failed": event.failed,
        "author_email": event.author_email or "",
    }


def _revise(ctx: Context, branch_key: str, event: BuildEvent, revision: changes.Revision) -> str:
    """Act on a later build whose news value this (late) build changed."""
    held = revision.held
    did = []
    if isinstance(held.get("summary"), Mapping):
        query = revision.query(event.pipeline, event.branch or "")
        base = set(ROUTES.slack_channels(replace(query, changed=None)))
        wanted = ROUTES.slack_channels(query)
        message = BuildMessage(ctx, str(held["key"]))
        if revision.changed:
            summary = BuildSummary(**held["summary"])
            mention = _mention(ctx, bool(held.get("failed")), str(held.get("author_email") or ""))
            for channel in wanted:
                done = message.sync(channel, summary, mention, True, channel not in base)
                did.append(f"{channel}: #{revision.number} {done} (news after all)")
        else:
            for channel, record in message.channels().items():
                if record.get("by_change") and channel not in wanted:
                    done = message.retract(channel)
                    did.append(f"{channel}: #{revision.number} {done} (not news after all)")
    changes.settle(ctx.store, branch_key, revision)
    return "; ".join(d for d in did if "unchanged" not in d)


def _on_build(event: BuildEvent, ctx: Context) -> Result:
    state = shown_state(event)
    changed = None
    revised: list[str] = []
    query = routing.Query(event.source, event.event, event.pipeline, event.branch or "", state)
    if event.is_final and ROUTES.needs_change_tracking():
        branch_key = ctx.state_key("branch", event.pipeline, event.branch or "")
        verdict = changes.record(ctx.store, branch_key, event.number, state, _held(event))
        changed = verdict.changed
        revised = [_revise(ctx, branch_key, event, r) for r in verdict.revisions]
    message = BuildMessage(ctx, build_key(event))
    existing = message.channels()
    base = set(ROUTES.slack_channels(query))  # the channels it gets whether news or not
    query = replace(query, changed=changed)
    targets = list(dict.fromkeys([*ROUTES.slack_channels(query), *existing]))
    revised = [r for r in revised if r]
    if not targets and not revised:
        return skipped("no routing rule sends this build to Slack")
    summary = BuildSummary.of(event)
    mention = _mention(ctx, event.failed, event.author_email) if targets else None
    watch = watched(event)
    done = {
        channel: message.sync(
            channel, summary, mention, watch, channel not in base and channel not in existing
        )
        for channel in targets
    }
    log.logger.debug("slack messages synced", channels=done)
    acted = [f"{c}: {d}" for c, d in done.items() if d != "unchanged"] + revised
    if not acted:
        return skipped("every message already shows this state or a later one")
    return Result("acted", "; ".join(acted), provider="slack", operation="chat")


def _on_job(event: JobEvent, ctx: Context) -> Result:
    if event.event != "job.finished" or not event.failed:
        return skipped("only failed jobs are threaded")
    message = BuildMessage(ctx, build_key(event))
    message.remember_failed_job(event)
    targets = list(message.channels())
    summary = None
    if not targets:
        query = routing.Query(
            event.source, "build.failing", event.pipeline, event.branch or "", "failing", None
        )
        targets = ROUTES.slack_channels(query)
        summary = summary_of_job(event)
    if not targets:
        return skipped("failure kept: it is threaded once the build's message is posted")
    done = {channel: message.sync(channel, summary, None) for channel in targets}
    return Result(
        "acted",
        "; ".join(f"{c}: {d}" for c, d in done.items()),
        provider="slack",
        operation="thread",
    )


@pubsub_function(
    "slack_notify", accepts=lambda e: isinstance(e, BuildEvent | JobEvent), key=event_key
)
def handle(event: Any, ctx: Context) -> Result:
    """Keep the build's Slack message in step with the build."""
    started = time.perf_counter()
    result = _on_job(event, ctx) if isinstance(event, JobEvent) else _on_build(event, ctx)
    ctx.fields["slack_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result
