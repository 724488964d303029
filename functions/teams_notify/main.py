"""teams_notify: an Adaptive Card to a Teams Workflows webhook for the builds the rules select.

Teams cannot edit a card posted through a webhook, so unlike Slack this
function posts only on the events the routing rules select (by default:
the first failure and the recovery), once per (build, state, destination)
even under redelivery. A card whose answer was lost after it was sent (reset,
timeout, a 5xx other than 503) may have arrived, and a Workflows URL cannot
be asked, so it is never re-sent blind: the message is dead-lettered with
reason ``outcome_unknown`` for a person to replay if no card came; a card
that provably never left (connect error, 429, 503) is retried.
``changed: true`` is decided by build number, not arrival
(``cievents.notify.changes``): a recovery that arrived before the failure it
recovers from gets its card when the failure arrives. A card cannot be taken
back, so a card sent as news that a late earlier build shows was not news
stays (logged as ``not news after all``). Any 2xx is success:
Workflows answers 202. Cards are validated for size and schema before
sending, since Workflows drops bad cards silently after accepting them.

Settings: ``TEAMS_WEBHOOK_URL`` (the ``default`` destination; others are
``TEAMS_WEBHOOK_URL_<NAME>``), ``TEAMS_CARD_FORMAT`` (``adaptive`` or
``messagecard``), ``CIEVENTS_ROUTING_FILE``. No URL at all, or
``CIEVENTS_DRY_RUN``: the request is recorded in the outbox (a destination
without a URL is recorded as ``https://teams.invalid/<name>``). Some URLs set
but one a rule names missing is a deploy mistake, refused at cold start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from cievents import log, routing
from cievents.config import env_bool, env_str
from cievents.errors import AuthError, ConfigError, PermanentError, TransientError
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


def check_destinations(routes: routing.Routes, env: Mapping[str, str]) -> None:
    """Refuse a deploy where some Teams destinations have a URL and another has none.

    With no URL at all the function is in dry run (the local demo); with all of
    them it sends. In between, one destination would quietly write to the outbox
    while the others post, which nobody would notice until a card is missed.
    """
    destinations = routes.teams_destinations()
    urls = {d: routing.teams_webhook_url(d, env) for d in destinations}  # each checked for form
    if env_bool("CIEVENTS_DRY_RUN", False, environ=env):
        return
    missing = {d: r for d, r in destinations.items() if not urls[d]}
    if missing and len(missing) < len(destinations):
        name, rule = next(iter(missing.items()))
        raise ConfigError(
            routing.teams_webhook_variable(name),
            f"is not set, but routing rule {rule!r} sends to Teams destination {name!r}",
        )


check_destinations(ROUTES, os.environ)
_http: dict[bool, HttpClient] = {}


def http(ctx: Context, dry: bool) -> HttpClient:
    if dry not in _http:
        _http[dry] = HttpClient(
            sink="teams", outbox=Outbox(ctx.settings.outbox_dir) if dry else None, read_timeout=10.0
        )
    return _http[dry]


def display_name(destination: str) -> str:
    """How logs name a destination: its name, never a literal URL (the URL is the credential)."""
    if destination.startswith(("https://", "http://")):
        return f"webhook of rule {ROUTES.teams_destinations().get(destination, '?')!r}"
    return destination


def destination_id(destination: str) -> str:
    """A stable store-key part for a destination (a digest, for a literal URL)."""
    if destination.startswith(("https://", "http://")):
        return "url-" + hashlib.sha256(destination.encode()).hexdigest()[:16]
    return destination


def build_key(event: BuildEvent) -> str:
    return event.build_id or f"{event.organization}/{event.pipeline}/{event.number}"


def post_cards(
    ctx: Context, key: str, state: str, summary: BuildSummary, destinations: list[str]
) -> list[str]:
    """The build's card to each destination, once per (build, state, destination)."""
    message = (
        cards.adaptive_card(summary) if CARD_FORMAT == "adaptive" else cards.message_card(summary)
    )
    ctx.fields["card_bytes"] = cards.validate(message)
    posted = []
    for name in destinations:
        url = routing.teams_webhook_url(name)
        dry = ctx.settings.dry_run or not url
        claim_key = f"teams_notify:post:{key}:{state}:{destination_id(name)}"
        claim = ctx.store.claim(claim_key)
        if claim.status == "duplicate":
            continue
        if claim.status == "busy":
            raise TransientError(
                f"another execution is posting to Teams destination {display_name(name)}"
            )
        try:
            http(ctx, dry).post(
                url or f"https://teams.invalid/{destination_id(name)}",
                json_body=message,
                what=f"teams {display_name(name)}",
            )
        except AuthError as exc:  # the URL's signature was revoked or the flow turned off
            ctx.store.release(claim_key, claim.token)
            variable = (
                f"the webhook URL of {display_name(name)}"
                if name.startswith(("https://", "http://"))
                else routing.teams_webhook_variable(name)
            )
            raise AuthError(
                f"{exc.message}; check {variable}", status=exc.status, credential=variable
            ) from None
        except TransientError as exc:
            ctx.store.release(claim_key, claim.token)
            if exc.unsent:  # provably never arrived (connect error, 429, 503): retried
                raise
            # The card may have been delivered, and a Workflows URL has no API to look it
            # up: never re-sent blind. Dead-lettered, so a person who sees no card replays.
            raise PermanentError(
                f"{exc.message}; the card may have been delivered and Teams cannot be asked, "
                "so it is not re-sent: replay this dead letter if no card arrived",
                reason="outcome_unknown",
            ) from None
        except BaseException:
            ctx.store.release(claim_key, claim.token)
            raise
        ctx.store.complete(claim_key, claim.token, "posted")
        posted.append(display_name(name))
    return posted


def revise(ctx: Context, branch_key: str, event: BuildEvent, revision: changes.Revision) -> str:
    """A later build whose news value this (late) build changed: its card, if now news."""
    held = revision.held
    did = ""
    if isinstance(held.get("summary"), Mapping):
        query = revision.query(event.pipeline, event.branch or "")
        if revision.changed:
            summary = BuildSummary(**held["summary"])
            sent = post_cards(
                ctx, str(held["key"]), revision.state, summary, ROUTES.teams_webhooks(query)
            )
            did = f"#{revision.number} news after all: card to {', '.join(sent)}" if sent else ""
        else:
            log.logger.warning(
                "not news after all: a Teams card cannot be taken back",
                build_number=revision.number,
            )
    changes.settle(ctx.store, branch_key, revision)
    return did


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
    summary = BuildSummary.of(event)
    revised: list[str] = []
    if event.is_final and ROUTES.needs_change_tracking():
        key = ctx.state_key("branch", event.pipeline, event.branch or "")
        held = {
            "key": build_key(event),
            "summary": asdict(summary),
            "source": event.source,
            "event": event.event,
        }
        verdict = changes.record(ctx.store, key, event.number, state, held)
        changed = verdict.changed
        revised = [d for d in (revise(ctx, key, event, r) for r in verdict.revisions) if d]
    query = routing.Query(
        event.source, event.event, event.pipeline, event.branch or "", state, changed
    )
    destinations = ROUTES.teams_webhooks(query)
    if not destinations and not revised:
        return skipped("no routing rule sends this build to Teams")
    posted = post_cards(ctx, build_key(event), state, summary, destinations)
    ctx.fields.update(destinations=posted)
    detail = "; ".join([f"card to {', '.join(posted) or 'nobody new'}", *revised])
    return Result("acted", detail, provider="teams", operation="post")
