"""End to end with the real model: the article printed to PDF by Chromium, indexed, asked,
cited by page, checked, served."""

from __future__ import annotations

import http.client
import io
import json
import re
import urllib.parse
from pathlib import Path

import pypdf
import pytest
from typer.testing import CliRunner

from conftest import ARTICLE, serving
from kzqa.cli import app
from pdfs import article_html, print_to_pdf

runner = CliRunner()
TITLE = "Academic exchanges take stage in strengthening China-Kazakhstan ties"
QUESTION = "Where was the Study in Kazakhstan education fair held?"


@pytest.fixture(scope="module")
def article_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("print")
    page = folder / "article.html"
    page.write_text(article_html(ARTICLE.read_text(encoding="utf-8"), TITLE), encoding="utf-8")
    return print_to_pdf(page, folder / "article.pdf").read_bytes()


def page_holding(pdf: bytes, words: str) -> int:
    """The 1-based page whose text holds `words`, as another library (pypdf) reads it."""
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    found = [n for n, p in enumerate(pages, 1) if words in " ".join(p.extract_text().split())]
    assert len(found) == 1, found
    return found[0]


def fetch(srv, path: str) -> tuple[int, dict[str, str], bytes]:
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.slow
def test_a_printed_article_is_cited_by_page_and_verified(project: Path, article_pdf: bytes) -> None:
    (project / "corpus" / ARTICLE.name).unlink()
    (project / "corpus" / "article.pdf").write_bytes(article_pdf)
    assert len(pypdf.PdfReader(io.BytesIO(article_pdf)).pages) >= 3
    indexed = runner.invoke(app, ["index"])
    assert indexed.exit_code == 0, indexed.output

    result = runner.invoke(app, ["ask", QUESTION, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    top = out["results"][0]
    c = top["citation"]
    assert out["answered"] and "Urumqi" in top["answer"]["text"]
    assert c["page"] == c["end_page"] == page_holding(article_pdf, "held in Urumqi")
    assert c["page"] > 1 and "page_label" not in c  # Chromium writes no page labels
    assert c["offsets"] == "extracted_text" and c["verified"] is True
    assert (c["title"], c["published"]) == (TITLE, "2025-12-04")
    # the span is the extracted text's, as `kzqa read` re-extracts it
    span = runner.invoke(
        app, ["read", c["source"], str(c["start_char"]), str(c["end_char"]), "--json"]
    )
    assert span.exit_code == 0, span.output
    read = json.loads(span.stdout)
    assert read["text"] == top["text"] and read["page"] == c["page"]
    span = runner.invoke(app, ["read", c["source"], str(c["start_char"]), str(c["end_char"])])
    assert f"p. {c['page']}" in span.stdout.splitlines()[0]
    # nothing of Chromium's running header and footer (date, title, file URL, "2/3")
    assert not re.search(r"file://|\d+/\d+\s*$", top["text"])

    text = runner.invoke(app, ["ask", QUESTION])
    assert f"corpus/article.pdf p. {c['page']}" in text.stdout
    assert runner.invoke(app, ["verify"]).exit_code == 0

    with serving() as srv:
        status, headers, body = fetch(srv, "/raw?source=article.pdf")
        assert status == 200 and body == article_pdf
        assert headers["content-type"] == "application/pdf"
        assert headers["x-content-type-options"] == "nosniff"
        query = urllib.parse.urlencode(
            {"source": "article.pdf", "start": c["start_char"], "end": c["end_char"]}
        )
        status, _, page = fetch(srv, f"/doc?{query}")
        assert status == 200
        shown = page.decode("utf-8")
        assert '<mark id="hit"' in shown and f"p. {c['page']}" in shown
        status, _, page = fetch(srv, "/?" + urllib.parse.urlencode({"q": QUESTION}))
        assert status == 200 and f"article.pdf p. {c['page']}" in page.decode("utf-8")
