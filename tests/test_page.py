"""The web page as HTML over HTTP: results, citations, the document view, escaping, raw files."""

from __future__ import annotations

import html
import http.client
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import serving
from kzqa.serve import Server

pytestmark = pytest.mark.slow
QUESTION = "How many Luban Workshops has Kazakhstan hosted?"
HOSTILE = (
    "Field notes\n\nThe camel <script>window.pwned = 1; document.title = 'pwned'</script> is "
    'old. <img src=x onerror="window.pwned = 2"> Zhuldyz the camel lives in Almaty.\n'
)


def fetch(srv: Server, path: str) -> tuple[int, dict[str, str], str]:
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read().decode("utf-8")
    finally:
        conn.close()


@pytest.fixture
def server(real_project: Path) -> Iterator[Server]:
    (real_project / "corpus" / "hostile.txt").write_text(HOSTILE, encoding="utf-8")
    from kzqa.build import build_index
    from kzqa.config import load_config

    build_index(load_config(None))
    with serving() as srv:
        yield srv


def test_the_results_page_cites_and_marks_the_answer(server: Server) -> None:
    status, headers, page = fetch(server, "/?" + urllib.parse.urlencode({"q": QUESTION, "k": 3}))
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    marks = re.findall(r'<mark class="answer">(.*?)</mark>', page, re.S)
    assert any("three Luban Workshops" in html.unescape(m) for m in marks)
    links = re.findall(r'<a class="citation" href="([^"]+)">([^<]+)</a>', page)
    assert len(links) == 3
    href, label = links[0]
    assert label.startswith("academic-exchanges-china-kazakhstan.txt:")
    assert f'value="{html.escape(QUESTION)}"' in page  # the box keeps the question


def test_the_document_view_highlights_the_cited_span(server: Server) -> None:
    _, _, page = fetch(server, "/?" + urllib.parse.urlencode({"q": QUESTION, "k": 1}))
    href = html.unescape(re.search(r'<a class="citation" href="([^"]+)"', page)[1])
    assert href.endswith("#hit")  # the browser scrolls to the passage
    status, _, doc = fetch(server, href.split("#")[0])  # as a browser sends it
    assert status == 200
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(href).query))
    text = (server.service.cfg.corpus / query["source"]).read_text(encoding="utf-8")
    passage = r'<mark id="hit" class="passage">(.*?<mark class="answer">.*?</mark>.*?)</mark>'
    cited = html.unescape(re.search(passage, doc, re.S)[1])
    plain = re.sub(r"<[^>]+>", "", cited)
    assert plain == text[int(query["start"]) : int(query["end"])]
    answer = html.unescape(re.search(r'<mark class="answer">(.*?)</mark>', doc, re.S)[1])
    assert answer == text[int(query["astart"]) : int(query["aend"])]
    assert "three Luban Workshops" in answer
    assert "/raw?source=academic-exchanges-china-kazakhstan.txt" in doc


@pytest.mark.parametrize(
    ("span", "shown"),
    [
        ("start=999999&end=1000005", "the whole text is shown"),
        ("start=40&end=12", "the whole text is shown"),
        ("start=x&end=12", "the whole text is shown"),
        ("start=40", "the whole text is shown"),
        ("start=40&end=999999", "the part inside it is highlighted"),
    ],
)
def test_a_span_that_is_not_in_the_document_is_said_so(
    server: Server, span: str, shown: str
) -> None:
    source = "academic-exchanges-china-kazakhstan.txt"
    length = len((server.service.cfg.corpus / source).read_text(encoding="utf-8"))
    status, _, doc = fetch(server, f"/doc?source={source}&{span}")
    assert status == 200
    notice = html.unescape(
        re.search(r'<p class="verdict no-answer" role="status">(.*?)</p>', doc)[1]
    )
    assert f"which has {length:,} characters: {shown}" in notice
    assert ('<mark id="hit"' in doc) == (shown != "the whole text is shown")
    _, _, fine = fetch(server, f"/doc?source={source}&start=0&end=40")
    _, _, plain = fetch(server, f"/doc?source={source}")
    assert "not a span" not in fine + plain


def test_document_text_is_escaped_everywhere(server: Server) -> None:
    q = "What is the camel in Almaty called?"
    _, _, page = fetch(server, "/?" + urllib.parse.urlencode({"q": q, "k": 5}))
    assert "Zhuldyz" in page
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    _, _, doc = fetch(server, "/doc?source=hostile.txt")
    assert "<script>window" not in doc and "&lt;img src=x onerror" in doc


def test_the_raw_file_is_plain_text_in_a_sandbox(server: Server) -> None:
    status, headers, body = fetch(server, "/raw?source=hostile.txt")
    assert status == 200 and body == HOSTILE
    assert headers["content-type"].startswith("text/plain")
    assert headers["content-security-policy"].startswith("sandbox")
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("route", ["/raw", "/doc"])
@pytest.mark.parametrize(
    "source",
    [
        "source=../index/manifest.json",
        "source=/etc/hostname",
        "source=%2E%2E%2Findex%2Fmanifest.json",  # URL-encoded ../
        "source=%252E%252E%252Findex%252Fmanifest.json",  # double-encoded
        "source=..%2F..%2F..%2F..%2F..%2Fetc%2Fhostname",
        "source=nowhere.txt",
        "source=",
    ],
)
def test_only_indexed_files_are_served(server: Server, route: str, source: str) -> None:
    status, _, page = fetch(server, f"{route}?{source}")
    assert status == 404 and "no indexed file" in page


def test_a_link_out_of_the_corpus_and_a_file_added_later_are_not_served(
    server: Server, real_project: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("The vault code is 1234.\n")
    corpus = real_project / "corpus"
    (corpus / "link.txt").symlink_to(secret)
    (corpus / "later.txt").write_text("Astana became the capital in 1997.\n")
    from kzqa.build import build_index
    from kzqa.config import load_config

    report = build_index(load_config(None))
    assert "skipped link.txt: a link to a file outside the corpus folder" in report.warnings
    assert "later.txt" in report.added
    (corpus / "after.txt").write_text("Written after the last build.\n")
    for source in ("link.txt", "after.txt"):
        for route in ("/raw", "/doc"):
            status, _, page = fetch(server, f"{route}?source={source}")
            assert status == 404 and "1234" not in page
    # An indexed file swapped for a link to outside after the build is not served either.
    (corpus / "later.txt").unlink()
    (corpus / "later.txt").symlink_to(secret)
    deadline = time.monotonic() + 10
    while "later.txt" not in server.service.searcher.manifest.files:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for route in ("/raw", "/doc"):
        status, _, page = fetch(server, f"{route}?source=later.txt")
        assert status == 404 and "1234" not in page


def test_a_question_nothing_answers_says_so_and_shows_the_closest(server: Server) -> None:
    q = "What is the boiling point of liquid nitrogen?"
    _, _, page = fetch(server, "/?" + urllib.parse.urlencode({"q": q, "k": 2}))
    assert "No passage answers this confidently" in page
    assert len(re.findall(r'<a class="citation"', page)) == 2


def test_the_status_line_says_when_the_corpus_changed(server: Server, real_project: Path) -> None:
    manifest = server.service.searcher.manifest
    _, _, page = fetch(server, "/")
    assert f"2 documents, {manifest.passages} passages, built {manifest.built_at}" in page
    assert "Up to date." in page
    (real_project / "corpus" / "later.txt").write_text("Astana became the capital in 1997.\n")
    server.service.refresh_status()
    _, _, page = fetch(server, "/")
    assert "The corpus changed since (1 added)" in page and "kzqa index" in page
