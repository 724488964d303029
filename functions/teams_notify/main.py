"""teams_notify: an Adaptive Card to a Teams Workflows webhook for the builds the rules select.

Teams cannot edit a card posted through a webhook, so unlike Slack this
function posts only on the events the routing rules select (by default:
the first failure and the recovery), once per (build, state, destination)
even under redelivery. Any 2xx is success: Workflows answers 202. Cards are
validated for size and schema before sending, since Workflows drops bad
cards silently after accepting them.

Settings: ``TEAMS_WEBHOOK_URL`` (the ``default`` destination; others are
``TEAMS_WEBHOOK_URL_<NAME>``), ``TEAMS_CARD_FORMAT`` (``adaptive`` or
``messagecard``), ``CIEVENTS_ROUTING_FILE``. No URL or
``CIEVENTS_DRY_RUN``: the request is recorded in the outbox.
"""

from __future__ import annotations

from typing import Any

from cievents import routing
from cievents.config import env_str
from cievents.errors import ConfigError, TransientError
from cievents.events import BuildEvent
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.http import HttpClient
from cievents.notify import cards, changes
from cievents.notify.render import BuildSummary, shown_state
from cievents.outbox import Outbox

CARD_FORMAT = env_str("TEAMS_CARD_FORMAT", "adaptive").lower()
if CARD_FORMAT not in ("adaptive", "messagecard"):
    raise ConfigError("TEAMS_CARD_FORMAT", f"expected adaptive or messagecard, got {CARD_FORMAT!r}")
ROUTES = routing.load()
_http: dict[bool, HttpClient] = {}


def http(ctx: Context, dry: bool) -> HttpClient:
    if dry not in _http:
        _http[dry] = HttpClient(
            sink="teams", outbox=Outbox(ctx.settings.outbox_dir) if dry else None, read_timeout=10.0
        )
    return _http[dry]


def build_key(event: BuildEvent) -> str:
    return event.build_id or f"{event.organization}/{event.pipeline}/{event.number}"


@pubsub_function(
    "teams_notify",
    accepts=lambda e: isinstance(e, BuildEvent),
    key=lambda m, e: f"{build_key(e)}:{e.event}:{shown_state(e)}",
)
def handle(event: Any, ctx: Context) -> Result:
    """Post a card to every Teams destination the rules select for this build event."""
    assert isinstance(event, BuildEvent)
    state = shown_state(event)
    changed = None
    if event.is_final and ROUTES.needs_change_tracking():
        key = ctx.state_key("branch", event.pipeline, event.branch or "")
        changed = changes.record_and_compare(ctx.store, key, event.number, state)
    query = routing.Query(
        event.source, event.event, event.pipeline, event.branch or "", state, changed
    )
    destinations = ROUTES.teams_webhooks(query)
    if not destinations:
        return skipped("no routing rule sends this build to Teams")
    summary = BuildSummary.of(event)
    message = (
        cards.adaptive_card(summary) if CARD_FORMAT == "adaptive" else cards.message_card(summary)
    )
    size = cards.validate(message)
    posted = []
    for name in destinations:
        url = routing.teams_webhook_url(name)
        dry = ctx.settings.dry_run or not url
        claim_key = f"teams_notify:post:{build_key(event)}:{state}:{name}"
        claim = ctx.store.claim(claim_key)
        if claim.status == "duplicate":
            continue
        if claim.status == "busy":
            raise TransientError(f"another execution is posting to Teams destination {name}")
        try:
            http(ctx, dry).post(url or f"teams://{name}", json_body=message)
        except BaseException:
            ctx.store.release(claim_key, claim.token)
            raise
        ctx.store.complete(claim_key, claim.token, "posted")
        posted.append(name)
    ctx.fields.update(card_bytes=size, destinations=posted)
    return Result(
        "acted", f"card to {', '.join(posted) or 'nobody new'}", provider="teams", operation="post"
    )
