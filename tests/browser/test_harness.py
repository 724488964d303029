"""The browser harness itself: it sees what a person would (console errors, failed loads,
fetches, the color scheme, what is on screen) on pages made here to show each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import Browser

PAGE = """<!doctype html><meta charset=utf-8><title>harness</title>
<style>body{background:#fff;color:#000}
@media (prefers-color-scheme: dark){body{background:#000;color:#fff}}
@media print{.screen-only{display:none}}</style>
<p id=text>on screen</p><p class=screen-only>not printed</p>%s"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


def write(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "page.html"
    path.write_text(PAGE % extra, "utf-8")
    return path.as_uri()


def test_a_clean_page_has_no_errors_and_follows_the_color_scheme(
    browser: Browser, tmp_path: Path
) -> None:
    url = write(tmp_path)
    colors = {}
    for scheme in ("light", "dark"):
        page = browser.open(url, scheme=scheme)
        assert page.errors == []
        assert page.requests == [url]
        assert page.evaluate("document.getElementById('text').innerText") == "on screen"
        colors[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        shot = page.screenshot(f"harness-{scheme}")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        page.close()
    assert colors == {"light": "rgb(255, 255, 255)", "dark": "rgb(0, 0, 0)"}


def test_console_errors_exceptions_and_failed_fetches_are_reported(
    browser: Browser, tmp_path: Path
) -> None:
    url = write(
        tmp_path,
        "<script>console.error('broken chart')</script>"
        "<script>undefinedFunction()</script>"
        '<img src="http://127.0.0.1:9/missing.png">',
    )
    page = browser.open(url)
    text = "\n".join(page.errors)
    assert "console: broken chart" in text
    assert "exception:" in text and "undefinedFunction" in text
    assert "Failed to load resource" in text
    assert "http://127.0.0.1:9/missing.png" in page.requests
    page.close()


def test_print_media_and_pdf(browser: Browser, tmp_path: Path) -> None:
    url = write(tmp_path)
    page = browser.open(url, media="print")
    hidden = page.evaluate("getComputedStyle(document.querySelector('.screen-only')).display")
    assert hidden == "none"
    assert page.pdf()[:5] == b"%PDF-"
    page.close()
