"""The web page in a real browser (headless Chromium through Playwright), as a person uses it."""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from kzqa.serve import Server
from test_page import server as page_server

pytestmark = pytest.mark.slow
QUESTION = "How many Luban Workshops has Kazakhstan hosted?"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: the browser tests must run in CI")
        pytest.skip("chromium is not installed (make install puts it there as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


server = page_server  # the article and a hostile file, served (tests/test_page.py)


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1100, "height": 800})
    tab = context.new_page()
    requests: list[str] = []
    tab.on("request", lambda request: requests.append(request.url))
    tab.requests = requests
    yield tab
    context.close()


def marks(page: Any, selector: str) -> list[str]:
    return [m.inner_text() for m in page.locator(selector).all()]


def test_ask_read_the_answer_and_follow_the_citation(page: Any, server: Server) -> None:
    page.goto("/")
    page.locator("main").click()  # the focus elsewhere on the page
    assert page.evaluate("document.activeElement.id") != "q"
    page.keyboard.press("/")  # focuses the box
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_selector("ol.hits")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["q"] == [QUESTION]  # the URL holds the question
    verdict = page.locator(".verdict").inner_text()
    assert verdict.startswith("Answered:") and "three Luban Workshops" in verdict
    first = page.locator("li.hit").first
    assert "three Luban Workshops" in first.locator("mark.answer").inner_text()
    citation = first.locator("a.citation")
    assert citation.inner_text().startswith("academic-exchanges-china-kazakhstan.txt:")
    assert citation.get_attribute("href").startswith("/doc?")  # a real link: copy, new tab
    if os.environ.get("KZQA_SCREENSHOT"):
        page.screenshot(
            path=os.environ["KZQA_SCREENSHOT"], clip={"x": 0, "y": 0, "width": 1100, "height": 560}
        )

    citation.click()
    page.wait_for_selector("mark#hit")
    hit = page.locator("mark#hit")
    href = urllib.parse.urlsplit(page.url)
    assert href.fragment == "hit"
    where = dict(urllib.parse.parse_qsl(href.query))
    text = (server.service.cfg.corpus / where["source"]).read_text(encoding="utf-8")
    assert hit.inner_text() == text[int(where["start"]) : int(where["end"])]
    answer = hit.locator("mark.answer").inner_text()
    assert answer == text[int(where["astart"]) : int(where["aend"])]
    assert "three Luban Workshops" in answer
    box = hit.bounding_box()
    assert box is not None and 0 <= box["y"] < 800  # scrolled into view
    assert page.locator("pre.text").inner_text() == text  # the whole document is there
    raw = page.locator("a.raw").get_attribute("href")
    assert page.request.get(raw).text() == text


def test_a_question_nothing_answers_says_so_and_shows_the_closest(page: Any) -> None:
    page.goto("/?" + urllib.parse.urlencode({"q": "What is the boiling point of nitrogen?"}))
    verdict = page.locator(".verdict").inner_text()
    assert "No passage answers this confidently" in verdict
    assert page.locator("li.hit").count() == 5  # the closest passages, still shown


def test_document_text_never_runs(page: Any) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/?" + urllib.parse.urlencode({"q": "What is the camel in Almaty called?"}))
    hostile = page.locator("li.hit", has_text="Zhuldyz").first
    assert "<script>" in hostile.inner_text() and "<img src=x" in hostile.inner_text()
    hostile.locator("a.citation").click()
    page.wait_for_selector("pre.text")
    assert "<script>window.pwned" in page.locator("pre.text").inner_text()
    assert page.evaluate("window.pwned") is None
    assert page.title() != "pwned" and dialogs == []
    assert page.locator("img").count() == 0


def test_a_shared_link_shows_the_same_results(page: Any, browser: Any, server: Server) -> None:
    page.goto("/?" + urllib.parse.urlencode({"q": QUESTION, "k": 3}))
    seen = marks(page, "li.hit")
    other = browser.new_context(base_url=server.url).new_page()
    other.goto(page.url)  # bookmarked or sent to a colleague
    assert marks(other, "li.hit") == seen and len(seen) == 3
    assert other.locator("#k").input_value() == "3"
    other.context.close()


def test_keyboard_alone_reaches_a_citation(page: Any) -> None:
    page.goto("/")
    assert page.evaluate("document.activeElement.id") == "q"  # the box has focus at once
    page.keyboard.type("Where was the Study in Kazakhstan education fair held?")
    page.keyboard.press("Enter")
    page.wait_for_selector("a.citation")
    for _ in range(10):  # Tab through the form to the first citation
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.className") == "citation":
            break
    assert page.evaluate("document.activeElement.className") == "citation"
    page.keyboard.press("Enter")
    page.wait_for_selector("mark#hit")
    assert "Urumqi" in page.locator("mark#hit").inner_text()


def test_a_phone_sized_window_needs_no_sideways_scrolling(browser: Any, server: Server) -> None:
    phone = browser.new_context(
        base_url=server.url, viewport={"width": 375, "height": 740}, is_mobile=True
    )
    tab = phone.new_page()
    for url in ("/?" + urllib.parse.urlencode({"q": QUESTION}), "/doc?source=hostile.txt"):
        tab.goto(url)
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, url
    assert tab.locator("#q").bounding_box()["width"] > 250  # the box is usable
    phone.close()


def test_everything_comes_from_kzqa_itself(page: Any, server: Server) -> None:
    page.goto("/?" + urllib.parse.urlencode({"q": QUESTION}))
    page.locator("a.citation").first.click()
    page.wait_for_selector("mark#hit")
    assert page.requests and all(url.startswith(server.url) for url in page.requests)
