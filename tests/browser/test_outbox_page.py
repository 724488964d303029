"""The outbox preview of the whole example day (what `make demo` writes), in headless
Chromium: what a person opening `.demo/outbox/index.html` would check."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cievents.demo.preview import is_read
from cievents.demo.runner import Options, run
from tests.support.browser import Browser, Page

ROOT = Path(__file__).resolve().parents[2]

VISIBLE = """(sel) => Array.from(document.querySelectorAll(sel)).filter(e => {
  const r = e.getBoundingClientRect(); return !e.hidden && r.width > 0 && r.height > 0;
}).length"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    report = run(
        Options(root=ROOT, events=ROOT / "examples" / "events", out=out, use_emulator=False)
    )
    assert report.dead_letters == 0
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1280, height=1000) as b:
        yield b


def writes(out: Path) -> Counter[str]:
    """Writes per sink, as recorded (reads left out: they are not effects)."""
    counts: Counter[str] = Counter()
    for path in (out / "outbox").glob("*.jsonl"):
        for line in path.read_text("utf-8").splitlines():
            entry = json.loads(line)
            if not is_read({**entry, "sink": path.stem}):
                counts[path.stem] += 1
    return counts


def visible(page: Page, selector: str) -> int:
    return int(page.evaluate(f"({VISIBLE})({json.dumps(selector)})"))


def select(page: Page, element: str, value: str) -> None:
    page.evaluate(
        f"(() => {{ const s = document.getElementById({json.dumps(element)});"
        f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()"
    )


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_sink_of_the_demo_is_rendered(demo: Path, browser: Browser, scheme: str) -> None:
    url = (demo / "outbox" / "index.html").as_uri()
    page = browser.open(url, scheme=scheme)
    try:
        assert page.errors == []
        assert page.requests == [url]  # self-contained: nothing fetched
        expected = writes(demo)
        assert set(expected) >= {"github", "gitlab", "bitbucket", "azure-devops", "jira", "slack"}
        for sink, count in expected.items():
            shown = visible(page, f'li.entry[data-sink="{sink}"]')
            assert shown == count, (sink, shown, count)
            kinds = page.evaluate(
                f"Array.from(document.querySelectorAll('li.entry[data-sink=\"{sink}\"]'))"
                ".map(e => e.dataset.kind)"
            )
            assert "request" not in kinds, (sink, kinds)  # none left as raw JSON
        # Text is on screen: the title, and each build's heading and checks box.
        assert page.evaluate("document.querySelector('h1').innerText") == (
            "What the functions would have sent"
        )
        assert visible(page, "section.build") >= 10
        assert visible(page, ".checks-box .check") >= 10
        assert page.evaluate(
            "Array.from(document.querySelectorAll('li.entry .card'))"
            ".every(c => c.innerText.trim().length > 0)"
        )
        # Emoji are rendered: no Slack/GitHub shortcode is left as text, except custom ones
        # and where the product shows text as typed: Jira's wiki markup has no shortcodes,
        # a GitHub check annotation's message is plain text.
        assert visible(page, ".emoji:not(.custom)") > 20
        leftover = page.evaluate(
            "(() => { const c = document.querySelector('main').cloneNode(true);"
            " c.querySelectorAll('.emoji.custom, code, pre, details, .jira-body, .annotations')"
            ".forEach(e => e.remove());"
            " return (c.innerText.match(/:[a-z0-9_+-]*[a-z][a-z0-9_+-]*:/g) || []); })()"
        )
        assert leftover == []
        # Reads are kept out of the timeline, in the collapsed lookups section.
        assert visible(page, "li.entry") == sum(expected.values())
        page.screenshot(f"outbox-preview-{scheme}")
    finally:
        page.close()


@pytest.mark.slow
def test_filters_by_sink_and_by_build(demo: Path, browser: Browser) -> None:
    page = browser.open((demo / "outbox" / "index.html").as_uri())
    try:
        expected = writes(demo)
        select(page, "filter-sink", "jira")
        assert visible(page, "li.entry") == expected["jira"]
        assert visible(page, 'li.entry:not([data-sink="jira"])') == 0
        assert page.evaluate("document.getElementById('shown').textContent") == str(
            expected["jira"]
        )
        select(page, "filter-sink", "")
        select(page, "filter-build", "web-app #102")
        assert visible(page, "section.build") == 1
        sinks = page.evaluate(
            "Array.from(new Set(Array.from(document.querySelectorAll('li.entry'))"
            ".filter(e => !e.hidden).map(e => e.dataset.sink))).sort()"
        )
        # One timeline across sinks: the build's status, check run, Slack, Teams, Jira
        # and Buildkite writes together.
        assert {"github", "slack", "teams", "jira", "buildkite"} <= set(sinks), sinks
        box = page.evaluate(
            "document.querySelector('section.build:not([hidden]) .checks-box').dataset.state"
        )
        assert box == "failure"
        assert page.evaluate("location.hash") == "#build=web-app+%23102"  # shareable
        page.screenshot("outbox-preview-build-102")
    finally:
        page.close()
    # A filtered address opens filtered.
    page = browser.open((demo / "outbox" / "index.html").as_uri() + "#sink=bitbucket")
    try:
        assert page.errors == []
        assert visible(page, "li.entry") == expected["bitbucket"]
        assert visible(page, 'li.entry[data-kind="insights-report"]') >= 1
        page.screenshot("outbox-preview-bitbucket")
    finally:
        page.close()
