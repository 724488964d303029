"""Golden files: the Block Kit and cards rendered for every Buildkite payload we have.

Complete payloads render to the JSON in tests/notify/golden/; Buildkite's
own docs skeletons fail validation before anything is rendered. Regenerate
after an intended change with ``UPDATE_GOLDEN=1 pytest tests/notify``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cievents.errors import ValidationError
from cievents.events import BuildEvent, JobEvent
from cievents.notify import blocks, cards
from cievents.notify.render import BuildSummary
from cievents.sources import parse
from tests.conftest import OWN, vendor_fixtures

GOLDEN = Path(__file__).parent / "golden"
OWN_PAYLOADS = sorted((OWN / "buildkite").glob("*.json"))


def rendered(path: Path) -> dict[str, object]:
    event = parse(path.read_bytes(), source="buildkite")
    if isinstance(event, JobEvent):
        text, reply = blocks.job_reply(event)
        return {"slack_thread_reply": {"text": text, "blocks": reply}}
    assert isinstance(event, BuildEvent)
    summary = BuildSummary.of(event)
    return {
        "slack": {"text": blocks.fallback_text(summary), "blocks": blocks.build_blocks(summary)},
        "teams_adaptive": cards.adaptive_card(summary),
        "teams_messagecard": cards.message_card(summary),
    }


@pytest.mark.parametrize("path", OWN_PAYLOADS, ids=lambda p: p.name)
def test_rendering_matches_golden_file(path: Path) -> None:
    output = rendered(path)
    golden = GOLDEN / path.name
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n")
    assert output == json.loads(golden.read_text())
    if "teams_adaptive" in output:
        cards.validate(output["teams_adaptive"])  # type: ignore[arg-type]
        cards.validate(output["teams_messagecard"])  # type: ignore[arg-type]
        slack_blocks = output["slack"]["blocks"]  # type: ignore[index]
        assert len(slack_blocks) <= blocks.MAX_BLOCKS


SKELETONS = [p for p in vendor_fixtures("buildkite") if p.name.startswith(("build.", "job."))]


@pytest.mark.parametrize("path", SKELETONS, ids=lambda p: p.name)
def test_docs_skeletons_fail_validation_before_rendering(path: Path) -> None:
    with pytest.raises(ValidationError):
        rendered(path)


def test_long_text_is_truncated_with_a_link() -> None:
    text = blocks.truncate("x" * 5000, blocks.MAX_SECTION, "https://b.example/1")
    assert len(text) == blocks.MAX_SECTION and text.endswith("… <https://b.example/1|more>")
