"""The Slack Web API, through the real ``slack_sdk`` client, with our error policy.

Used by slack_notify, and by any function that needs to alert a channel
(e.g. secret_scan's security alerts). slack_sdk is imported on first use.

* One in-call retry at most, decided by ``cievents.http.RetryPolicy`` (through
  ``tenacity``): ``chat.postMessage`` creates a message, so it is retried
  only when Slack provably did not act (429 ``ratelimited``, or the
  connection could not be opened); a timeout, a reset after sending, a 5xx
  or an unreadable answer raise ``TransientError`` and the caller reconciles
  on redelivery (``find_post``: our own message metadata, read back with
  ``conversations.history`` / ``conversations.replies`` and
  ``include_all_metadata``) instead of posting again. Updates and lookups are
  idempotent and retried on any transient failure. slack_sdk's own retry
  handlers are not installed: its connection-error handler re-sends posts
  blind, its rate-limit handler sleeps unbounded.
* HTTP 429: when Slack's ``Retry-After`` is short (at most
  ``max_inline_wait_s``, default 2 s) we wait and try once more; otherwise
  ``RateLimitedError`` carries the wait and Pub/Sub redelivers later, so a
  30-second limit never holds a billed instance. The channel is then cooled
  down in this instance: further posts to it wait or fail fast without
  calling Slack until the wait is over. With a ``budget``
  (``cievents.ratelimit.Budget``) the spacing of posts and the cool-downs are
  shared by every instance through the store; without one they are this
  instance's own.
* ``channel_not_found``, ``not_in_channel`` and the other configuration errors
  → permanent, with a message that says what to fix; ``invalid_auth``,
  ``token_revoked``, ``missing_scope`` and the like → ``AuthError`` naming
  ``SLACK_BOT_TOKEN`` (dead-lettered for replay once the token is fixed).
* 5xx, ``internal_error``/``fatal_error`` and network errors → transient.
* Posts to one channel are spaced ``min_interval_s`` apart (Slack allows
  about one message per second per channel; bursts are refused with 429).
* ``users.lookupByEmail`` is sent as a GET with a query string, as slack_sdk's
  own method does: Slack does not read JSON bodies for it.

Dry run (no token, or ``CIEVENTS_DRY_RUN``): requests go to the outbox and
the answers are synthesized (a ``ts`` that later updates can use).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cievents import clock, log, tracing
from cievents.errors import (
    AuthError,
    CIEventsError,
    PermanentError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownTargetError,
)
from cievents.http import RetryPolicy, default_read_timeout, retry_after_seconds
from cievents.outbox import Outbox
from cievents.ratelimit import Budget, Limit

__all__ = ["METADATA_EVENT", "SlackClient"]

METADATA_EVENT = "cievents_post"
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")
HISTORY_PAGES = 5
LIST_PAGES = 20

PERMANENT: dict[str, tuple[type[PermanentError], str]] = {
    "channel_not_found": (
        UnknownTargetError,
        "the channel does not exist, or the bot cannot see it",
    ),
    "not_in_channel": (UnknownTargetError, "invite the bot to the channel"),
    "is_archived": (UnknownTargetError, "the channel is archived"),
    "message_not_found": (UnknownTargetError, "the message to update was deleted"),
    "invalid_auth": (AuthError, "SLACK_BOT_TOKEN is invalid or revoked"),
    "not_authed": (AuthError, "SLACK_BOT_TOKEN is not set"),
    "account_inactive": (AuthError, "SLACK_BOT_TOKEN belongs to a deactivated app"),
    "token_revoked": (AuthError, "SLACK_BOT_TOKEN was revoked"),
    "token_expired": (AuthError, "SLACK_BOT_TOKEN has expired"),
    "missing_scope": (
        AuthError,
        "SLACK_BOT_TOKEN lacks a scope (chat:write, users:read.email, channels:history, "
        "channels:read)",
    ),
    "invalid_blocks": (RejectedError, "Slack refused the blocks"),
    "msg_too_long": (RejectedError, "the message is too long"),
    "cant_update_message": (RejectedError, "the bot cannot update this message"),
}
API = "https://slack.com/api/"


class SlackClient:
    """One Slack workspace, through one bot token (or the outbox when there is none)."""

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str | None = None,
        outbox: Outbox | None = None,
        timeout_s: float | None = None,
        min_interval_s: float = 1.0,
        max_inline_wait_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: Budget | None = None,
        max_slot_wait_s: float | None = None,
    ) -> None:
        self.outbox = outbox if (outbox is not None or not token) else None
        if not token and self.outbox is None:
            self.outbox = Outbox(".cievents/outbox")
        self.base_url = (base_url or API).rstrip("/") + "/"
        self._token = token
        self._timeout = timeout_s or default_read_timeout()
        self._client: Any = None
        self._lock = threading.Lock()
        self._next_post: dict[str, float] = {}
        self._min_interval = min_interval_s
        self._max_inline_wait = max_inline_wait_s
        self._sleep = sleep
        self._clock = clock
        self._emails: dict[str, str | None] = {}
        self._channel_ids: dict[str, str] = {}
        self._fake_ts = itertools.count(1)
        self.budget = budget
        self.post_limit = Limit(1, min_interval_s)
        # How long a post may wait for its booked slot in the shared budget.
        self._max_slot_wait = (
            max(min_interval_s, max_inline_wait_s) if max_slot_wait_s is None else max_slot_wait_s
        )
        self._policy = _SlackPolicy(
            retries=1, max_inline_wait_s=max_inline_wait_s, min_interval_s=min_interval_s
        )
        if tracing.enabled():  # one CLIENT span per Web API call, dry runs included
            self.call = tracing.traced(  # type: ignore[method-assign]
                "slack", self.call, lambda method, *_, **__: ("POST", self.base_url + method)
            )

    @property
    def dry_run(self) -> bool:
        return self.outbox is not None

    def _web(self) -> Any:
        if self._client is None:
            from slack_sdk import WebClient

            self._client = WebClient(
                token=self._token,
                base_url=self.base_url,
                timeout=max(1, round(self._timeout)),  # slack_sdk takes whole seconds
                retry_handlers=[],  # retries are ours: a blind re-send duplicates a post
            )
        return self._client

    @staticmethod
    def destination(channel: str) -> str:
        """The budget a channel's posts draw on."""
        return f"slack:{channel}"

    def _pace(self, channel: str) -> None:
        """Reserve the channel's next post slot; wait for it, or refuse when it is far off."""
        if self.budget is not None:
            self.budget.acquire(self.destination(channel), self.post_limit, self._max_slot_wait)
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_post.get(channel, 0.0))
            wait = slot - now
            if wait > max(self._min_interval, self._max_inline_wait):
                raise RateLimitedError(
                    f"slack: {channel} is rate limited for {wait:.0f} s more",
                    status=429,
                    retry_after=wait,
                )
            self._next_post[channel] = slot + self._min_interval
        if wait > 0:
            self._sleep(wait)

    def reserve_post(self, channel: str) -> None:
        """Wait for the channel's next post slot (then ``post(..., slot_reserved=True)``)."""
        if not self.dry_run:
            self._pace(channel)

    def _cool_down(self, channel: str, seconds: float) -> None:
        if self.budget is not None:
            self.budget.pause(self.destination(channel), seconds)
            return
        with self._lock:
            until = self._clock() + seconds
            self._next_post[channel] = max(self._next_post.get(channel, 0.0), until)

    def call(
        self, method: str, *, channel_scope: str | None = None, **params: Any
    ) -> dict[str, Any]:
        """Call a Web API method; raise our classified errors.

        ``channel_scope``: the channel a rate limit applies to, cooled down on 429.
        """
        if self.outbox is not None:
            self.outbox.record("slack", "POST", self.base_url + method, params)
            return self._synthesized(method, params)
        attempts = itertools.count(1)

        def attempt() -> dict[str, Any]:
            if next(attempts) > 1 and channel_scope:
                if self.budget is not None:
                    self._pace(channel_scope)  # the first shared slot after the window reopens
                else:
                    with self._lock:  # the wait just served was the cool-down
                        self._next_post[channel_scope] = self._clock() + self._min_interval
            try:
                return self._send(method, params)
            except RateLimitedError as exc:
                if channel_scope:
                    wait = exc.retry_after if exc.retry_after is not None else self._min_interval
                    self._cool_down(channel_scope, wait)
                raise

        idempotent = method not in CREATES
        return self._policy.call(attempt, idempotent, self._sleep)

    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError

        try:
            if method in FORM_ONLY:
                response = self._web().api_call(method, http_verb="GET", params=params)
            else:
                response = self._web().api_call(method, json=params)
            return dict(response.data)
        except SlackApiError as exc:
            raise _classify(method, exc.response) from None
        except CIEventsError:
            raise
        except Exception as exc:  # urllib errors, timeouts, resets, unreadable answers
            unsent = _never_sent(exc)
            raise TransientError(
                f"slack {method}: {type(exc).__name__}"
                + (" (could not connect)" if unsent else " (outcome unknown)"),
                reason="network",
                unsent=unsent,
            ) from None

    def _synthesized(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            return {
                "ok": True,
                "channel": params.get("channel"),
                "ts": f"{int(clock.now())}.{next(self._fake_ts):06d}",
            }
        if method in ("chat.update", "chat.delete"):
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        return {"ok": False, "error": "dry_run"}

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None = None,
        marker: str | None = None,
        pace_as: str | None = None,
        slot_reserved: bool = False,
    ) -> tuple[str, str]:
        """Post a message; returns (channel ID, ts) — updates need the ID, not the name.

        ``marker`` is carried in the message's metadata so ``find_post`` can find the
        message again when the answer to this post is lost. ``pace_as``: the name the
        channel's budget is kept under, when ``channel`` is its ID (thread replies), so
        a channel's posts draw on one budget. ``slot_reserved``: the caller already
        waited for the slot (``reserve_post``)."""
        scope = pace_as or channel
        if not self.dry_run and not slot_reserved:
            self._pace(scope)
        params: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            "unfurl_links": False,
        }
        if thread_ts:
            params["thread_ts"] = thread_ts
        if marker:
            params["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"marker": marker}}
        answer = self.call("chat.postMessage", channel_scope=scope, **params)
        if "ts" not in answer:
            raise TransientError("slack chat.postMessage: answer without ts; outcome unknown")
        return str(answer.get("channel") or channel), str(answer["ts"])

    def channel_id(self, channel: str) -> str:
        """The ID of a channel given by name (``#ci``) or ID, via ``conversations.list``."""
        if CHANNEL_ID.fullmatch(channel):
            return channel
        name = channel.lstrip("#")
        if name in self._channel_ids:
            return self._channel_ids[name]
        cursor = ""
        for _ in range(LIST_PAGES):
            params: dict[str, Any] = {
                "types": "public_channel,private_channel",
                "exclude_archived": "true",
                "limit": 1000,
            }
            if cursor:
                params["cursor"] = cursor
            answer = self.call("conversations.list", **params)
            for item in answer.get("channels") or []:
                if isinstance(item, Mapping) and item.get("name") and item.get("id"):
                    self._channel_ids[str(item["name"])] = str(item["id"])
            if name in self._channel_ids:
                return self._channel_ids[name]
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        raise UnknownTargetError(f"slack: no channel named {channel!r} visible to the bot")

    def find_post(
        self, channel: str, marker: str, since: float, thread_ts: str | None = None
    ) -> tuple[str, str] | None:
        """The (channel ID, ts) of the message we posted with ``marker``, if Slack has it.

        Reads ``conversations.history`` (or ``conversations.replies`` for a thread
        reply) from shortly before ``since`` with ``include_all_metadata``."""
        if self.dry_run:
            return None
        channel_id = self.channel_id(channel)
        method = "conversations.replies" if thread_ts else "conversations.history"
        params: dict[str, Any] = {
            "channel": channel_id,
            "include_all_metadata": "true",
            "oldest": f"{max(0.0, since - 300):.6f}",
            "inclusive": "true",
            "limit": 200,
        }
        if thread_ts:
            params["ts"] = thread_ts
        for _ in range(HISTORY_PAGES):
            answer = self.call(method, **params)
            for item in answer.get("messages") or []:
                if _carries(item, marker):
                    return channel_id, str(item["ts"])
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not answer.get("has_more") or not cursor:
                return None
            params["cursor"] = cursor
        return None

    def update(self, channel_id: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace the message ``ts`` in ``channel_id`` (an ID: Slack refuses names here)."""
        self.call(
            "chat.update",
            channel_scope=channel_id,
            channel=channel_id,
            ts=ts,
            text=text,
            blocks=blocks,
        )

    def delete(self, channel_id: str, ts: str) -> None:
        """Delete the message ``ts`` we posted in ``channel_id``; one already gone is no error."""
        try:
            self.call("chat.delete", channel_scope=channel_id, channel=channel_id, ts=ts)
        except UnknownTargetError:
            log.logger.info("slack message already deleted", channel=channel_id, ts=ts)

    def user_for_email(self, email: str) -> str | None:
        """The Slack user ID for an e-mail, cached (including "no such user")."""
        if self.dry_run or not email:
            return None
        key = email.strip().lower()
        if key in self._emails:
            return self._emails[key]
        try:
            user = self.call("users.lookupByEmail", email=email).get("user") or {}
            found = str(user.get("id")) if user.get("id") else None
        except UnknownTargetError:
            found = None
        self._emails[key] = found
        return found


# Methods Slack reads only from a query string or form body, never from JSON.
FORM_ONLY = frozenset(
    {"users.lookupByEmail", "conversations.history", "conversations.replies", "conversations.list"}
)
# Methods that create something: retried in-call only when Slack provably did not act.
CREATES = frozenset({"chat.postMessage"})


@dataclass(frozen=True)
class _SlackPolicy(RetryPolicy):
    """A 429 without Retry-After waits the channel's posting interval."""

    min_interval_s: float = 1.0

    def wait(self, attempt: int, error: TransientError) -> float | None:
        if isinstance(error, RateLimitedError) and error.retry_after is None:
            return self.min_interval_s if self.min_interval_s <= self.max_inline_wait_s else None
        return super().wait(attempt, error)


def _carries(message: Any, marker: str) -> bool:
    if not isinstance(message, Mapping) or not message.get("ts"):
        return False
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != METADATA_EVENT:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, Mapping) and payload.get("marker") == marker


def _never_sent(exc: BaseException) -> bool:
    """urllib's connection failures (refused, unresolvable) prove nothing was sent; urllib
    wraps errors raised while connecting or sending in ``URLError``, not those after."""
    import socket
    import urllib.error

    reason = exc.reason if isinstance(exc, urllib.error.URLError) else None
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


def _classify(method: str, response: Any) -> CIEventsError:
    status = int(getattr(response, "status_code", 200) or 200)
    data = getattr(response, "data", None) or {}
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error == "ratelimited":
        headers = {str(k): str(v) for k, v in (getattr(response, "headers", None) or {}).items()}
        wait = retry_after_seconds(headers)
        asked = f"; Slack asks to wait {wait:.0f} s" if wait is not None else ""
        return RateLimitedError(
            f"slack {method}: rate limited{asked}", status=429, retry_after=wait, unsent=True
        )
    if status >= 500 or error in (
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    ):
        return TransientError(
            f"slack {method}: HTTP {status} {error}".rstrip(), status=status, unsent=status == 503
        )
    if error.startswith("Received a response in a non-JSON format"):
        # slack_sdk's own words for an unreadable body: Slack may have acted on the call.
        return TransientError(
            f"slack {method}: HTTP {status} with an unreadable body; outcome unknown",
            status=status,
            reason="unreadable_answer",
        )
    if not error and status in (404, 410):
        return UnknownTargetError(f"slack {method}: HTTP {status} (is SLACK_API_URL right?)")
    if not error and status in (401, 403):
        return AuthError(
            f"slack {method}: HTTP {status} (SLACK_BOT_TOKEN is invalid, revoked or lacks a scope)",
            status=status,
            credential="SLACK_BOT_TOKEN",
        )
    if error == "users_not_found":
        return UnknownTargetError(f"slack {method}: users_not_found")
    cls, fix = PERMANENT.get(error, (RejectedError, "see Slack's documentation for this error"))
    if cls is AuthError:
        return AuthError(f"slack {method}: {error} ({fix})", credential="SLACK_BOT_TOKEN")
    return cls(f"slack {method}: {error or status} ({fix})")
