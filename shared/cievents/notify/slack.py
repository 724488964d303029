"""The Slack Web API, through the real ``slack_sdk`` client, with our error policy.

Used by slack_notify, and by any function that needs to alert a channel
(e.g. secret_scan's security alerts). slack_sdk is imported on first use.

* HTTP 429 (``ratelimited``): when Slack's ``Retry-After`` is short (at most
  ``max_inline_wait_s``, default 2 s) we wait and try once more; otherwise
  ``RateLimitedError`` carries the wait and Pub/Sub redelivers later, so a
  30-second limit never holds a billed instance. The channel is then cooled
  down in this instance: further posts to it wait or fail fast without
  calling Slack until the wait is over. slack_sdk's own
  ``RateLimitErrorRetryHandler`` is deliberately not installed: it sleeps for
  whatever Retry-After says, unbounded. Its connection-error handler is kept
  with one retry (a reset keep-alive connection is worth one more try).
* ``channel_not_found``, ``not_in_channel``, ``invalid_auth`` and the other
  configuration errors → permanent, with a message that says what to fix.
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
import threading
import time
from collections.abc import Callable
from typing import Any

from cievents import tracing
from cievents.errors import (
    CIEventsError,
    PermanentError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownTargetError,
)
from cievents.http import retry_after_seconds
from cievents.outbox import Outbox

PERMANENT: dict[str, tuple[type[PermanentError], str]] = {
    "channel_not_found": (
        UnknownTargetError,
        "the channel does not exist, or the bot cannot see it",
    ),
    "not_in_channel": (UnknownTargetError, "invite the bot to the channel"),
    "is_archived": (UnknownTargetError, "the channel is archived"),
    "message_not_found": (UnknownTargetError, "the message to update was deleted"),
    "invalid_auth": (RejectedError, "SLACK_BOT_TOKEN is invalid or revoked"),
    "not_authed": (RejectedError, "SLACK_BOT_TOKEN is not set"),
    "account_inactive": (RejectedError, "the bot's token belongs to a deactivated app"),
    "token_revoked": (RejectedError, "SLACK_BOT_TOKEN was revoked"),
    "missing_scope": (RejectedError, "the app lacks a scope (chat:write, users:read.email)"),
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
        timeout_s: int = 10,
        min_interval_s: float = 1.0,
        max_inline_wait_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox if (outbox is not None or not token) else None
        if not token and self.outbox is None:
            self.outbox = Outbox(".cievents/outbox")
        self.base_url = (base_url or API).rstrip("/") + "/"
        self._token = token
        self._timeout = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()
        self._next_post: dict[str, float] = {}
        self._min_interval = min_interval_s
        self._max_inline_wait = max_inline_wait_s
        self._sleep = sleep
        self._clock = clock
        self._emails: dict[str, str | None] = {}
        self._fake_ts = itertools.count(1)
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
            from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

            self._client = WebClient(
                token=self._token,
                base_url=self.base_url,
                timeout=self._timeout,
                retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
            )
        return self._client

    def _pace(self, channel: str) -> None:
        """Reserve the channel's next post slot; wait for it, or refuse when it is far off."""
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

    def _cool_down(self, channel: str, seconds: float) -> None:
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
        for attempt in (1, 2):
            try:
                return self._send(method, params)
            except RateLimitedError as exc:
                wait = exc.retry_after if exc.retry_after is not None else self._min_interval
                if channel_scope:
                    self._cool_down(channel_scope, wait)
                if attempt == 2 or wait > self._max_inline_wait:
                    raise
                self._sleep(wait)
                if channel_scope:
                    with self._lock:  # the wait just served was the cool-down
                        self._next_post[channel_scope] = self._clock() + self._min_interval
        raise AssertionError("unreachable")  # pragma: no cover

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
        except Exception as exc:  # urllib errors, timeouts, connection resets
            raise TransientError(
                f"slack {method}: {type(exc).__name__}", reason="network"
            ) from None

    def _synthesized(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            return {
                "ok": True,
                "channel": params.get("channel"),
                "ts": f"{int(time.time())}.{next(self._fake_ts):06d}",
            }
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        return {"ok": False, "error": "dry_run"}

    def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None
    ) -> tuple[str, str]:
        """Post a message; returns (channel ID, ts) — updates need the ID, not the name."""
        if not self.dry_run:
            self._pace(channel)
        params: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            "unfurl_links": False,
        }
        if thread_ts:
            params["thread_ts"] = thread_ts
        answer = self.call("chat.postMessage", channel_scope=channel, **params)
        return str(answer.get("channel") or channel), str(answer["ts"])

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
FORM_ONLY = frozenset({"users.lookupByEmail"})


def _classify(method: str, response: Any) -> CIEventsError:
    status = int(getattr(response, "status_code", 200) or 200)
    data = getattr(response, "data", None) or {}
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error == "ratelimited":
        headers = {str(k): str(v) for k, v in (getattr(response, "headers", None) or {}).items()}
        wait = retry_after_seconds(headers)
        asked = f"; Slack asks to wait {wait:.0f} s" if wait is not None else ""
        return RateLimitedError(
            f"slack {method}: rate limited{asked}", status=429, retry_after=wait
        )
    if status >= 500 or error in (
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    ):
        return TransientError(f"slack {method}: HTTP {status} {error}".rstrip(), status=status)
    if error == "users_not_found":
        return UnknownTargetError(f"slack {method}: users_not_found")
    cls, fix = PERMANENT.get(error, (RejectedError, "see Slack's documentation for this error"))
    return cls(f"slack {method}: {error or status} ({fix})")
