"""End to end with the real model: a folder mixing the article, a cp1251 text, a Word file and a
saved news page is indexed, verified, asked and served, each cited exactly."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import serving
from kzqa.cli import app
from kzqa.config import load_config
from kzqa.corpus import read_file
from test_formats import PAGES, RU, make_docx

pytestmark = pytest.mark.slow
runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def get(srv, path: str) -> tuple[int, str, bytes]:
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def test_mixed_formats_are_indexed_cited_verified_and_served(real_project: Path) -> None:
    corpus = real_project / "corpus"
    (corpus / "balkhash-ru.txt").write_bytes(RU.encode("cp1251"))
    make_docx(corpus / "water-report.docx")
    shutil.copy(PAGES / "news-balkhash.html", corpus / "news.html")
    report = json.loads(run("index", "--json"))
    assert sorted(report["added"]) == ["balkhash-ru.txt", "news.html", "water-report.docx"]
    assert "ok" in run("verify")
    cfg = load_config(None)
    cases = [
        ("Какова длина озера Балхаш?", "balkhash-ru.txt", "шестисот километров", None),
        (
            "By how many centimetres did the level at Priozersk fall?",
            "water-report.docx",
            "71 centimetres",
            "extracted_text",
        ),
        ("Who led the study of Lake Balkhash?", "news.html", "Marat Zhunusov", "extracted_text"),
    ]
    for question, name, words, offsets in cases:
        out = json.loads(run("ask", question, "--json"))
        top = out["results"][0]
        c = top["citation"]
        assert c["source"].endswith(name), (question, c["source"])
        assert words in top["text"]
        text = read_file(cfg.corpus, name).text
        assert text[c["start_char"] : c["end_char"]] == top["text"]
        a = top["answer"]
        assert text[a["start_char"] : a["end_char"]] == a["text"]
        assert c["verified"] is True
        assert c["offsets"] == (offsets or "file_text")
    assert text.startswith("Lake Balkhash is shrinking")  # the news page: its article only
    assert "cookies" not in text and "Nobody cares" not in text
    docx = json.loads(run("ask", "level at Priozersk centimetres", "--json"))["results"][0]
    c = docx["citation"]
    # The heading "Lake levels" (block 1) heads the paragraph that answers (block 2).
    assert (c["paragraph"], c["author"]) == (1, "Marat Zhunusov") and c["end_paragraph"] >= 2
    text = run("ask", "level at Priozersk centimetres", "-k", "1")
    assert f"paragraphs {c['paragraph']}-{c['end_paragraph']}" in text  # as its "lines 1-3"

    with serving() as srv:
        status, kind, body = get(srv, "/doc?source=water-report.docx")
        assert status == 200 and "Almaty | 3" in body.decode("utf-8")
        status, kind, body = get(srv, "/raw?source=water-report.docx")
        assert status == 200 and body == (corpus / "water-report.docx").read_bytes()
        assert kind == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        status, kind, body = get(srv, "/raw?source=balkhash-ru.txt")
        assert kind == "text/plain; charset=windows-1251" and body.decode("cp1251") == RU
        status, _, body = get(srv, "/?" + urllib.parse.urlencode({"q": "Who led the study?"}))
        assert status == 200 and "Aigerim Sadykova" in body.decode("utf-8")
        # A Word file is cited by paragraph on the page, as in the text output.
        q = urllib.parse.urlencode({"q": "level at Priozersk centimetres", "k": 1})
        page = get(srv, "/?" + q)[2].decode("utf-8")
        cited = re.search(r'<a class="citation" href="[^"]+">([^<]+)</a>', page)[1]
        first, last = c["paragraph"], c["end_paragraph"]
        assert cited == f"water-report.docx, paragraphs {first}–{last}", cited
