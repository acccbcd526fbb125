"""Reading the corpus: which files, what text, what metadata."""

from __future__ import annotations

from pathlib import Path

from conftest import ARTICLE
from kzqa.corpus import read_document, scan_corpus
from kzqa.corpus.html import extract_html
from kzqa.corpus.metadata import parse_date, text_metadata


def read(root: Path, rel: str):
    scan = scan_corpus(root)
    entry = next(e for e in scan.files if e.path == rel)
    return read_document(entry)


def test_the_seed_article_states_its_title_and_date() -> None:
    title, published = text_metadata(ARTICLE.read_text(encoding="utf-8"))
    assert title == "Academic exchanges take stage in strengthening China-Kazakhstan ties"
    assert published == "2025-12-04"


def test_dates_in_common_forms() -> None:
    assert parse_date("Dec 04, 2025 11:49 PM") == "2025-12-04"
    assert parse_date("4 December 2025") == "2025-12-04"
    assert parse_date("2025-12-04T10:00:00Z") == "2025-12-04"
    assert parse_date("sometime soon") is None
    assert parse_date("Feb 30, 2025") is None and parse_date("2025-13-01") is None
    assert parse_date("Foo 12, 2025") is None


def test_plain_text_without_a_header_invents_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("just some words. and more words.\nno heading here.\n")
    doc, _ = read(tmp_path, "a.txt")
    assert doc.title is None and doc.published is None


def test_markdown_front_matter_and_heading(tmp_path: Path) -> None:
    (tmp_path / "fm.md").write_text("---\ntitle: Steppe notes\ndate: 2024-05-01\n---\n\nBody.\n")
    (tmp_path / "h.md").write_text("Intro line\n\n# The Heading\n\nBody text.\n")
    doc, _ = read(tmp_path, "fm.md")
    assert (doc.title, doc.published, doc.kind) == ("Steppe notes", "2024-05-01", "markdown")
    doc, _ = read(tmp_path, "h.md")
    assert (doc.title, doc.published) == ("The Heading", None)
    (tmp_path / "bare.md").write_text("#\nA body sentence, not a title.\n\n# Real Title\n")
    doc, _ = read(tmp_path, "bare.md")
    assert doc.title == "Real Title"  # a bare # is no heading, and one never spans lines


def test_html_visible_text_title_and_date(tmp_path: Path) -> None:
    html = (
        "<html><head><title>Page title</title><style>p{color:red}</style>"
        '<meta property="article:published_time" content="2025-03-09T08:00:00Z">'
        "</head><body><h1>Big heading</h1><script>var x = 1;</script>"
        "<p>First paragraph with <b>bold</b> text.</p><p>Second &amp; last.</p>"
        "</body></html>"
    )
    (tmp_path / "p.html").write_text(html)
    doc, _ = read(tmp_path, "p.html")
    assert doc.text == "Big heading\n\nFirst paragraph with bold text.\n\nSecond & last.\n"
    assert (doc.title, doc.published, doc.kind) == ("Page title", "2025-03-09", "html")
    assert "var x" not in doc.text and "color" not in doc.text
    assert extract_html("<p>a</p>")[0] == "a\n"


def test_skips_hidden_binary_empty_and_other_types_with_warnings(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good text.\n")
    (tmp_path / ".hidden.txt").write_text("secret")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text("repo data")
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / "fake.txt").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "passages.txt").write_text("index data")
    scan = scan_corpus(tmp_path, exclude=tmp_path / "index")
    assert [e.path for e in scan.files] == ["fake.txt", "good.txt"]
    assert any("picture.png" in w and "not a file type kzqa reads" in w for w in scan.warnings)
    assert any("empty.md" in w and "empty" in w for w in scan.warnings)
    doc, warnings = read(tmp_path, "fake.txt")
    assert doc is None and warnings == ["skipped fake.txt: binary file"]


def test_non_utf8_is_read_with_a_fallback_and_a_warning(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("Café in Almaty – déjà vu.\n".encode("cp1252"))
    doc, warnings = read(tmp_path, "latin.txt")
    assert doc.text == "Café in Almaty – déjà vu.\n"
    assert warnings == ["latin.txt is not UTF-8; read it as cp1252"]


def test_a_byte_order_mark_does_not_hide_metadata(tmp_path: Path) -> None:
    (tmp_path / "bom.md").write_text("\ufeff---\ntitle: Hello\ndate: 2025-01-02\n---\n\nBody.\n")
    (tmp_path / "bom.txt").write_text("\ufeffMy Headline\nPublished: 2025-01-03\n\nBody.\n")
    doc, _ = read(tmp_path, "bom.md")
    assert (doc.title, doc.published) == ("Hello", "2025-01-02")
    assert doc.text.startswith("\ufeff")  # kept: offsets stay offsets into the decoded file
    doc, _ = read(tmp_path, "bom.txt")
    assert (doc.title, doc.published) == ("My Headline", "2025-01-03")


def test_html_without_a_closing_head_still_has_its_body() -> None:
    text, title, _ = extract_html(
        "<html><head><title>Lake Balkhash facts</title><body><p>Lake Balkhash is half fresh "
        "and half salty.</p></body></html>"
    )
    assert text == "Lake Balkhash is half fresh and half salty.\n"
    assert title == "Lake Balkhash facts"


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good text.\n")
    with open(bytes(tmp_path) + b"/caf\xe9.txt", "wb") as fh:
        fh.write(b"The Charyn Canyon is 154 km long.\n")
    scan = scan_corpus(tmp_path)
    assert [e.path for e in scan.files] == ["good.txt"]
    assert scan.warnings == ["skipped caf\ufffd.txt: its name is not valid UTF-8 (rename it)"]
