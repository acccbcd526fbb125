"""Files people keep: legacy encodings, saved news pages, Word and OpenDocument files."""

from __future__ import annotations

import datetime
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from kzqa import store
from kzqa.api import read_span
from kzqa.build import build_index
from kzqa.config import Config
from kzqa.corpus import FileEntry, read_document
from kzqa.corpus.html import extract_html, read_html
from kzqa.search.searcher import Searcher

PAGES = Path(__file__).parent / "fixtures" / "pages"
RU = (
    "Озеро Балхаш\n\nЗападная часть озера Балхаш пресная, а восточная солёная. "
    "Длина озера около шестисот километров.\n"
)
ZH = "巴尔喀什湖\n\n巴尔喀什湖西部是淡水，东部是咸水。湖长约六百公里。\n"


def read(folder: Path, name: str):
    full = folder / name
    st = full.stat()
    return read_document(FileEntry(name, full, st.st_size, st.st_mtime_ns))


def search(cfg: Config, embedder, question: str, k: int = 3):
    return Searcher(cfg, store.open_generation(cfg.index), encoder=embedder).search(question, k)


# ---- encodings


@pytest.mark.parametrize(
    ("text", "encoding", "named"),
    [
        (RU, "cp1251", "cp1251"),
        (RU, "koi8_r", "koi8-r"),
        (ZH, "gbk", "gb18030"),  # GB18030 is GBK's superset: the same text
        (RU, "utf-16-le", "utf-16 (byte-order mark)"),
        (ZH, "utf-16-be", "utf-16 (byte-order mark)"),
    ],
)
def test_legacy_encodings_are_detected_and_named(
    tmp_path: Path, text: str, encoding: str, named: str
) -> None:
    raw = text.encode(encoding)
    if encoding.startswith("utf-16"):  # as Windows tools write it: a byte-order mark first
        raw = ("\ufeff" + text).encode(encoding)
    (tmp_path / "a.txt").write_bytes(raw)
    doc, warnings = read(tmp_path, "a.txt")
    assert doc.text == text
    assert warnings == [f"a.txt is not UTF-8; read it as {named}"]
    assert doc.title == text.split("\n")[0]


def test_a_short_western_text_is_still_read_as_cp1252(tmp_path: Path) -> None:
    (tmp_path / "de.txt").write_bytes("Die Straße führt über Köln.\n".encode("cp1252"))
    doc, warnings = read(tmp_path, "de.txt")
    assert doc.text == "Die Straße führt über Köln.\n"
    assert warnings == ["de.txt is not UTF-8; read it as cp1252"]


def test_html_meta_charset_is_honoured_before_a_guess(tmp_path: Path) -> None:
    page = (
        '<html><head><meta charset="windows-1251"><title>Балхаш</title></head>'
        "<body><p>Восточная часть озера солёная.</p></body></html>"
    )
    (tmp_path / "p.html").write_bytes(page.encode("cp1251"))
    doc, warnings = read(tmp_path, "p.html")
    assert doc.text == "Восточная часть озера солёная.\n"
    assert (doc.title, warnings) == ("Балхаш", [])  # declared, not guessed: nothing to warn
    # A declaration the bytes contradict is not trusted: they are detected instead.
    (tmp_path / "q.html").write_bytes(page.replace("windows-1251", "utf-8").encode("koi8_r"))
    doc, warnings = read(tmp_path, "q.html")
    assert doc.text == "Восточная часть озера солёная.\n"
    assert warnings == ["q.html is not UTF-8; read it as koi8-r"]


def test_a_cited_span_in_a_legacy_file_is_verified(cfg: Config, fake_embedder) -> None:
    (cfg.corpus / "balkhash.txt").write_bytes(RU.encode("cp1251"))
    (cfg.corpus / "hu.txt").write_bytes(ZH.encode("gbk"))
    build_index(cfg, embedder=fake_embedder)
    for question, path, text in (
        ("Длина озера около шестисот километров", "balkhash.txt", RU),
        ("湖长约六百公里", "hu.txt", ZH),
    ):
        hit = next(h for h in search(cfg, fake_embedder, question, 5).hits if h.path.endswith(path))
        p = hit.passage
        assert text[p.start_char : p.end_char] == p.text
        assert hit.source.verified and hit.source.kind == "text"
        assert hit.as_dict(1)["citation"]["offsets"] == "file_text"


# ---- saved web pages


def test_a_saved_news_page_is_read_as_its_article() -> None:
    page = read_html((PAGES / "news-balkhash.html").read_text(encoding="utf-8"))
    assert page.title == "Lake Balkhash is shrinking, scientists warn"
    assert (page.published, page.author) == ("2025-11-18", "Aigerim Sadykova")
    assert "about a tenth of its volume since 2010" in page.text
    assert "new water quotas with China" in page.text
    for boilerplate in (
        "cookies",  # the banner
        "Subscribe",  # the menu
        "Share on",  # the share bar
        "Aral Sea fishermen",  # related links
        "Nobody cares",  # a reader's comment
        "morning briefing",  # the sidebar
        "All rights reserved",  # the footer
    ):
        assert boilerplate not in page.text
    # A table keeps its cells apart, a row to a line; a heading joins the text it heads.
    assert "\n\nPriozersk | -71 | +18%\n\n" in page.text
    heads = [page.text[h:].split("\n")[0] for h in page.headings]
    assert heads == [page.title, "Falling water, rising salt", "What the stations recorded"]


EXPECTED_PAGES = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", [n for n in EXPECTED_PAGES if not n.startswith("_")])
def test_every_saved_page_keeps_its_article_and_drops_the_rest(tmp_path: Path, name: str) -> None:
    shutil.copy(PAGES / name, tmp_path / name)
    doc, warnings = read(tmp_path, name)
    assert warnings == []  # UTF-8, or the charset its <meta> declares
    want = EXPECTED_PAGES[name]
    assert [s for s in want["article"] if s not in doc.text] == []
    assert [s for s in want["boilerplate"] if s in doc.text] == []


PRE = "station   level_cm\nBLK-01    -54\n\tPRZ-02    -71"


@pytest.mark.parametrize("nav", ["", "<nav><a href='/'>Home</a> <a href='/a'>About</a></nav>"])
def test_tables_and_pre_keep_their_shape_on_any_page(nav: str) -> None:
    long = "The logger reads the level every ten minutes and writes a line per reading. " * 3
    for body in (f"<p>{long}</p>", "<p>A short page.</p>"):  # an article, and not one
        text, _, _ = extract_html(
            f"<html><body>{nav}<article><h1>Logger</h1>{body}<pre>{PRE}</pre>"
            "<table><tr><th>City</th><th>Stations</th></tr><tr><td>Almaty</td><td>3</td></tr>"
            "</table></article></body></html>"
        )
        assert f"\n\n{PRE}\n\n" in text
        assert "Almaty | 3" in text and "Almaty3" not in text


def test_a_page_that_is_not_an_article_is_read_whole() -> None:
    page = read_html(
        "<html><head><title>Reports</title></head><body><ul><li><a href=a.html>Lake report"
        "</a></li><li><a href=b.html>Metro report</a></li></ul></body></html>"
    )
    assert page.text == "Lake report\n\nMetro report\n"
    assert page.title == "Reports"


def test_a_news_page_is_cited_in_its_article(cfg: Config, fake_embedder) -> None:
    (cfg.corpus / "news.html").write_bytes((PAGES / "news-balkhash.html").read_bytes())
    build_index(cfg, embedder=fake_embedder)
    manifest = store.read_manifest(cfg.index)
    assert manifest.files["news.html"]["author"] == "Aigerim Sadykova"
    hit = search(cfg, fake_embedder, "How much did the level at Priozersk change?").hits[0]
    citation = hit.as_dict(1)["citation"]
    assert "Priozersk | -71" in hit.passage.text
    assert citation["offsets"] == "extracted_text" and citation["verified"]
    assert citation["author"] == "Aigerim Sadykova" and "paragraph" not in citation


# ---- Word and OpenDocument


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.author = "Water report", "Marat Zhunusov"
    props.created = datetime.datetime(2025, 10, 2, 8, 0)
    document.add_heading("Lake levels", level=1)
    document.add_paragraph("The level at Priozersk fell by 71 centimetres since 2010.")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, (("City", "Stations"), ("Almaty", "3")), strict=True):
        for cell, value in zip(row.cells, cells, strict=True):
            cell.text = value
    document.add_heading("Salt", level=2)
    document.add_paragraph("The eastern basin grew saltier by a fifth.\nThe western did not.")
    document.save(str(path))


def make_odt(path: Path) -> None:
    from odf import dc, meta
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P, S

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Water report"))
    document.meta.addElement(meta.InitialCreator(text="Marat Zhunusov"))
    document.meta.addElement(meta.CreationDate(text="2025-10-02T08:00:00"))
    document.text.addElement(H(outlinelevel=1, text="Lake levels"))
    p = P(text="The level at Priozersk fell by")
    p.addElement(S(c=3))  # three spaces, as the format stores them
    p.addText("71 centimetres since 2010.")
    document.text.addElement(p)
    table = Table(name="Stations")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for values in (("City", "Stations"), ("Almaty", "3")):
        row = TableRow()
        for value in values:
            cell = TableCell()
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    document.text.addElement(table)
    document.text.addElement(H(outlinelevel=2, text="Salt"))
    document.text.addElement(
        P(text="The eastern basin grew saltier by a fifth. The western did not.")
    )
    document.save(str(path))


EXPECTED = (
    "Lake levels\n\n"
    "The level at Priozersk fell by 71 centimetres since 2010.\n\n"
    "City | Stations\n\n"
    "Almaty | 3\n\n"
    "Salt\n\n"
    "The eastern basin grew saltier by a fifth. The western did not.\n"
)


@pytest.mark.parametrize(("name", "make"), [("r.docx", make_docx), ("r.odt", make_odt)])
def test_office_documents_are_read_block_by_block(tmp_path: Path, name: str, make) -> None:
    make(tmp_path / name)
    doc, warnings = read(tmp_path, name)
    assert warnings == []
    assert doc.text == EXPECTED
    assert (doc.title, doc.published, doc.author) == (
        "Water report",
        "2025-10-02",
        "Marat Zhunusov",
    )
    assert doc.headings == (0, EXPECTED.index("Salt"))
    assert doc.kind == name.split(".")[1]


@pytest.mark.parametrize(("name", "make"), [("r.docx", make_docx), ("r.odt", make_odt)])
def test_office_citations_name_their_paragraphs(
    cfg: Config, fake_embedder, name: str, make
) -> None:
    make(cfg.corpus / name)
    build_index(cfg, embedder=fake_embedder)
    hit = next(
        h
        for h in search(cfg, fake_embedder, "eastern basin saltier fifth", 5).hits
        if h.path.endswith(name)
    )
    citation = hit.as_dict(1)["citation"]
    assert citation["offsets"] == "extracted_text" and citation["verified"]
    assert EXPECTED[citation["start_char"] : citation["end_char"]] == hit.passage.text
    assert "The eastern basin grew saltier" in hit.passage.text
    # The passage is "Salt" and its paragraph: blocks 5 and 6 (lines 9 and 11).
    assert (citation["paragraph"], citation["end_paragraph"]) == (5, 6)
    assert (citation["start_line"], citation["end_line"]) == (9, 11)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.docx", b"PK\x03\x04 truncated", "not a Word file"),
        ("plain.odt", b"just some text, no zip", "not an OpenDocument file"),
        ("empty-zip.docx", None, "a damaged Word file"),
    ],
)
def test_bad_office_files_are_skipped_in_one_line(
    cfg: Config, fake_embedder, name: str, data: bytes | None, reason: str
) -> None:
    if data is None:  # a zip, but not a Word package
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("hello.txt", "hi")
        data = buffer.getvalue()
    (cfg.corpus / name).write_bytes(data)
    report = build_index(cfg, embedder=fake_embedder)
    said = [w for w in report.warnings if name in w]
    assert len(said) == 1 and said[0].startswith(f"skipped {name}: {reason}"), said
    assert "\n" not in said[0] and "Traceback" not in said[0]
    assert report.passages_total > 0  # the article is indexed all the same


def test_an_index_read_by_an_older_reader_is_read_again(
    cfg: Config, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kzqa.build as build

    (cfg.corpus / "news.html").write_bytes((PAGES / "news-balkhash.html").read_bytes())
    monkeypatch.setattr(build, "READER_VERSION", 1)
    build_index(cfg, embedder=fake_embedder)
    monkeypatch.undo()
    report = build_index(cfg, embedder=fake_embedder)
    assert report.rebuilt and report.rebuilt.startswith("the chunking settings changed")
    assert report.passages_reused > 0  # the article's passages read the same: kept
    assert store.read_manifest(cfg.index).chunking["reader"] == build.READER_VERSION


def test_an_edited_word_file_re_embeds_only_what_changed(cfg: Config, fake_embedder) -> None:
    import docx

    make_docx(cfg.corpus / "r.docx")
    build_index(cfg, embedder=fake_embedder)
    document = docx.Document(str(cfg.corpus / "r.docx"))
    document.paragraphs[-1].text = "The eastern basin grew saltier by a third."
    document.save(str(cfg.corpus / "r.docx"))
    report = build_index(cfg, embedder=fake_embedder)
    assert report.changed == ["r.docx"]
    assert report.passages_embedded == 1  # "Salt" and its paragraph; the rest kept its vectors
    span = read_span(cfg, "r.docx", 0, 11)
    assert (span["text"], span["offsets"]) == ("Lake levels", "extracted_text")
    assert span["verified"]
