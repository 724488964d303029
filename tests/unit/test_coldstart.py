"""A served instance collects no garbage from its start to its first answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import gc, json, sys
sys.path.insert(0, "shared")
import cievents
from cievents import coldstart
before = (gc.isenabled(), coldstart.held())
coldstart.release()
after = (gc.isenabled(), coldstart.held(), gc.get_freeze_count() > 0)
coldstart.release()  # once: a second answer changes nothing
print(json.dumps({"before": before, "after": after, "again": gc.isenabled()}))
"""


def _run(env: dict[str, str]) -> dict[str, list[bool] | bool]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def test_a_served_instance_holds_collection_until_its_first_answer() -> None:
    found = _run({"K_SERVICE": "slack_notify"})
    assert found["before"] == [False, True]
    assert found["after"] == [True, False, True]  # resumed, with the start's objects frozen
    assert found["again"] is True


def test_a_process_that_is_not_served_collects_as_usual() -> None:
    found = _run({})
    assert found["before"] == [True, False]
    assert found["after"][:2] == [True, False]


def test_the_handler_releases_after_an_answer() -> None:
    import base64
    import gc
    from typing import Any

    from cievents import coldstart
    from cievents.handler import Context, Result, pubsub_function
    from cievents.idempotency.memory import MemoryStore
    from tests.support.settings import in_memory

    settings = in_memory(dry_run=True, outbox_dir="/nonexistent")
    seen: dict[str, bool] = {}

    def act(event: Any, ctx: Context) -> Result:
        seen["collecting while acting"] = gc.isenabled()
        return Result("acted")

    entry = pubsub_function(
        "probe", parse=lambda m: m, key=lambda m, e: None, settings=settings, store=MemoryStore()
    )(act)
    push = {"message": {"data": base64.b64encode(b"{}").decode(), "messageId": "m1"}}
    gc.disable()
    coldstart._held = True  # as hold() leaves a served instance
    try:
        entry(push)
        assert seen == {"collecting while acting": False}
        assert gc.isenabled() and not coldstart.held()
    finally:
        gc.enable()
        gc.unfreeze()  # this test process's objects back to the collector
        coldstart._held = False
