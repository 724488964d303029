"""The report page as a person sees it, in headless Chromium: drawn from the demo's history
(what ``make demo`` loads), in the light and the dark color scheme, printed, and served live.

Checked the way a reader would: no console error and no request beyond the page itself,
every chart has points, the text one reads is on screen with enough contrast, the figures
that cannot be computed say why. Screenshots go to ``.artifacts/screenshots/``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cievents import clock
from cievents.metrics import history
from cievents.metrics.duckdb_store import DuckDBStore
from cievents.metrics.report import page
from tests.support.browser import Browser, Page
from tests.support.report_server import serving

ROOT = Path(__file__).resolve().parents[2]

# Every chart: its label, how many points it says it has, how many marks it draws, its size.
CHARTS = """[...document.querySelectorAll('svg.chart')].map(s => ({
  label: s.getAttribute('aria-label'), said: +s.dataset.points,
  drawn: s.querySelectorAll('.pt').length, w: s.getBoundingClientRect().width,
  h: s.getBoundingClientRect().height}))"""

# The text a reader reads, with its contrast against the page (WCAG ratio) and whether it is
# inside the page's width and not hidden.
READABLE = """(() => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = getComputedStyle(document.body).backgroundColor;
  return [...document.querySelectorAll('h1, h2, h3, .tile .value, .tile .why, td, figcaption')]
    .map(e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
      const [a, b] = [lum(s.color), lum(bg)].sort((x, y) => y - x);
      return {text: e.innerText.trim().slice(0, 40), shown: r.width > 0 && r.height > 0 &&
        r.left >= 0 && r.right <= document.documentElement.clientWidth + 1 &&
        s.visibility !== 'hidden',
        contrast: (a + 0.05) / (b + 0.05)}; });
})()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "metrics.duckdb"
    history.load(db, clock.now_utc())
    return db


def check_readable(view: Page) -> None:
    readable = view.evaluate(READABLE)
    assert len(readable) > 60
    hidden = [r for r in readable if not r["shown"]]
    faint = [r for r in readable if r["contrast"] < 4.5]
    assert hidden == [] and faint == [], (hidden[:5], faint[:5])


def check_page(view: Page) -> None:
    assert view.errors == [], view.errors
    charts = view.evaluate(CHARTS)
    assert len(charts) == 20, [c["label"] for c in charts]
    for chart in charts:
        assert chart["said"] > 0 and chart["drawn"] >= chart["said"], chart
        assert chart["w"] > 200 and chart["h"] > 60, chart
    text = view.evaluate("document.body.innerText")
    for seen in (
        "Build health",
        "DEPLOYMENT FREQUENCY",  # the tiles' labels are upper-cased by CSS
        "LEAD TIME FOR CHANGES",
        "CHANGE FAILURE RATE",
        "TIME TO RESTORE",
        "No deployment failed in the window, so there was nothing to restore.",
        "Accelerate State of DevOps Report 2024",
        "ui-tests (iOS simulator)",
        "Flaky jobs",
    ):
        assert seen in text, seen
    assert re.search(r"\b(Elite|High|Medium|Low)\b", text)
    check_readable(view)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_report_page_in_each_color_scheme(
    browser: Browser, demo_db: Path, tmp_path: Path, scheme: str
) -> None:
    out = tmp_path / "build-health.html"
    out.write_text(page(demo_db), "utf-8")
    view = browser.open(out.as_uri(), scheme=scheme)
    check_page(view)
    assert view.requests == [out.as_uri()]  # self-contained: nothing else is fetched
    background = view.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(13, 17, 23)")
    shot = view.screenshot(f"report-{scheme}")
    print(f"screenshot: {shot}")
    view.close()


def test_the_report_prints(browser: Browser, demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "build-health.html"
    out.write_text(page(demo_db), "utf-8")
    # As on paper: A4 landscape less 12 mm margins is 273 mm, 1032 CSS pixels.
    view = browser.open(out.as_uri(), scheme="dark", media="print", width=1032)
    assert view.errors == []
    # Printed on white whatever the screen's scheme, three small multiples a row.
    assert view.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    check_readable(view)  # nothing runs off the page's width
    columns = view.evaluate(
        "getComputedStyle(document.querySelector('.multiples')).gridTemplateColumns"
    )
    assert len(columns.split()) == 3, columns
    pdf = view.pdf()
    assert pdf[:5] == b"%PDF-" and len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2
    view.screenshot("report-print")
    view.close()


@pytest.fixture
def served(demo_db: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "live.duckdb"
    db.write_bytes(demo_db.read_bytes())
    with serving(db) as url:
        yield f"{url}/", db


def test_the_served_page_reloads_itself_when_a_build_lands(
    browser: Browser, served: tuple[str, Path]
) -> None:
    url, db = served
    view = browser.open(url)
    check_page(view)
    assert "live: redrawn when" in view.evaluate("document.body.innerText")
    row = dict(history.generate(clock.now_utc()).builds[-1])
    row.update(insert_id="live:passed", build_id="live", pipeline="release-train")
    DuckDBStore(db).insert("builds", [row])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if "release-train" in view.evaluate("document.body.innerText"):
                break
        except Exception:  # the page is between two loads
            pass
        time.sleep(0.5)
    else:
        raise AssertionError("the open page did not reload with the new build within 90 s")
    time.sleep(1)
    view.evaluate("1")  # collects what the reloaded page logged
    assert view.errors == [], view.errors
    view.screenshot("report-served")
    view.close()
