"""The Slack Web API, through the real ``slack_sdk`` client, with our error policy.

Used by slack_notify, and by any function that needs to alert a channel
(e.g. secret_scan's security alerts). slack_sdk is imported on first use.

* ``ratelimited`` / HTTP 429 → ``RateLimitedError`` with Slack's Retry-After:
  Pub/Sub waits, not our instance (slack_sdk's own rate-limit retry handler
  is not installed; its one connection-error retry is kept).
* ``channel_not_found``, ``not_in_channel``, ``invalid_auth`` and the other
  configuration errors → permanent, with a log line that says what to fix.
* 5xx and network errors → transient.
* Posts to one channel are spaced about one second apart (Slack's limit).

Dry run (no token, or ``CIEVENTS_DRY_RUN``): requests go to the outbox and
the answers are synthesized (a ``ts`` that later updates can use).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from cievents.errors import (
    CIEventsError,
    PermanentError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownTargetError,
)
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
    def __init__(
        self,
        token: str | None,
        *,
        base_url: str | None = None,
        outbox: Outbox | None = None,
        timeout_s: int = 10,
        min_interval_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.outbox = outbox if (outbox is not None or not token) else None
        if not token and self.outbox is None:
            self.outbox = Outbox(".cievents/outbox")
        self.base_url = (base_url or API).rstrip("/") + "/"
        self._token = token
        self._timeout = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()
        self._last_post: dict[str, float] = {}
        self._min_interval = min_interval_s
        self._sleep = sleep
        self._emails: dict[str, str | None] = {}
        self._fake_ts = itertools.count(1)

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
        with self._lock:
            wait = self._last_post.get(channel, 0.0) + self._min_interval - time.monotonic()
            self._last_post[channel] = time.monotonic() + max(0.0, wait)
        if wait > 0:
            self._sleep(min(wait, self._min_interval))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a Web API method; raise our classified errors."""
        if self.outbox is not None:
            self.outbox.record("slack", "POST", self.base_url + method, params)
            return self._synthesized(method, params)
        from slack_sdk.errors import SlackApiError

        try:
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
        self._pace(channel)
        params: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            "unfurl_links": False,
        }
        if thread_ts:
            params["thread_ts"] = thread_ts
        answer = self.call("chat.postMessage", **params)
        return str(answer.get("channel") or channel), str(answer["ts"])

    def update(self, channel_id: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self.call("chat.update", channel=channel_id, ts=ts, text=text, blocks=blocks)

    def user_for_email(self, email: str) -> str | None:
        """The Slack user ID for an e-mail, cached (including "no such user")."""
        if self.dry_run or not email:
            return None
        if email in self._emails:
            return self._emails[email]
        try:
            user = self.call("users.lookupByEmail", email=email).get("user") or {}
            found = str(user.get("id")) if user.get("id") else None
        except UnknownTargetError:
            found = None
        except PermanentError as exc:
            if "users_not_found" not in exc.message:
                raise
            found = None
        self._emails[email] = found
        return found


def _classify(method: str, response: Any) -> CIEventsError:
    status = getattr(response, "status_code", 200)
    data = getattr(response, "data", None) or {}
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error == "ratelimited":
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        wait = float(retry_after) if retry_after and str(retry_after).isdigit() else None
        return RateLimitedError(f"slack {method}: rate limited", status=429, retry_after=wait)
    if status >= 500 or error in (
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    ):
        return TransientError(f"slack {method}: {error or status}", status=status)
    if error == "users_not_found":
        return UnknownTargetError(f"slack {method}: users_not_found")
    cls, fix = PERMANENT.get(error, (RejectedError, "see Slack's documentation for this error"))
    return cls(f"slack {method}: {error or status} ({fix})")
