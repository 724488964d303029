"""A tiny Pub/Sub function for handler tests, loaded by functions-framework like a real one.

It records every event it acts on in ``ACTED`` and can be told to fail via the
payload's ``build.message``: ``transient`` raises a TransientError, ``permanent``
a RejectedError, ``crash`` a plain ZeroDivisionError (a bug).
"""

from __future__ import annotations

from typing import Any

from cievents.errors import RejectedError, TransientError
from cievents.events import BuildEvent
from cievents.handler import Context, Result, pubsub_function, skipped

ACTED: list[tuple[str, int, str]] = []


@pubsub_function("recorder", accepts=lambda e: isinstance(e, BuildEvent))
def handle(event: Any, ctx: Context) -> Result | None:
    assert isinstance(event, BuildEvent)
    ctx.provider, ctx.operation = "test", "record"
    trigger = (event.message or "").split("\n", 1)[0]
    if trigger == "transient":
        raise TransientError("downstream answered 503", status=503)
    if trigger == "permanent":
        raise RejectedError("downstream answered 403", status=403)
    if trigger == "crash":
        _ = 1 / 0
    if trigger == "skip":
        return skipped("nothing to do for this build")
    ACTED.append((event.pipeline, event.number, event.state))
    return None
