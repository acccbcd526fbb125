"""PDFs: text in reading order, pages cited, bad files skipped (fake embedder; the real model
on the article printed by Chromium is in test_pdf_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kzqa.build import build_index
from kzqa.cli import app
from kzqa.config import Config
from kzqa.corpus import FileEntry, read_document
from kzqa.records import Document
from kzqa.render import ask_text
from kzqa.search import Searcher
from pdfs import Page, encrypt, make_pdf, paragraph_lines

runner = CliRunner()

CITIES = [
    "Almaty was the capital of Kazakhstan until 1997 and remains its largest city, a centre of "
    "trade, banking and culture at the foot of the Trans-Ili Alatau mountains in the south.",
    "Astana became the capital in 1997; its skyline of new ministries, the Baiterek tower and "
    "the Khan Shatyr tent was built within two decades on the steppe by the Ishim river.",
    "Shymkent, the third city of the country, lies near the border with Uzbekistan and is "
    "known for its markets, its oil refinery and the old caravan routes that crossed it.",
    "Aktau on the Caspian Sea was planned in the Soviet years as a uranium town; today its "
    "port ships grain and oil across the sea to Baku and the ports of Iran and Russia.",
    "Karaganda grew around its coal mines in the twentieth century, and its university and "
    "metal works still employ much of the region, though many mines have since closed.",
    "Turkistan holds the mausoleum of Khoja Ahmed Yasawi, a Timurid building of the "
    "fourteenth century that pilgrims from all of Central Asia visit to this day.",
]


def read(path: Path) -> tuple[Document | None, list[str]]:
    st = path.stat()
    return read_document(FileEntry(path.name, path, st.st_size, st.st_mtime_ns))


def write(path: Path, pdf: bytes) -> Path:
    path.write_bytes(pdf)
    return path


def three_pages(cities: list[str] = CITIES, labels: str = "") -> bytes:
    """Two cities per page under a running header, a page number at the foot of each page."""
    pages = []
    for n in range(3):
        lines = [(72, 760, 9, "Cities of Kazakhstan - a short guide")]
        lines += paragraph_lines(cities[2 * n : 2 * n + 2], top=700)
        lines.append((300, 40, 9, str(n + 1)))
        pages.append(Page(lines))
    return make_pdf(
        pages, {"Title": "Cities of Kazakhstan", "CreationDate": "D:20240305120000Z"}, labels
    )


def test_a_date_inside_the_header_paragraph_beats_the_files_creation_date(
    tmp_path: Path,
) -> None:
    """A page that sets its headline, byline and date as one paragraph (as the QA pass printed
    the article): the stated date is found, not the day the PDF was made."""
    header = (
        "Academic exchanges take stage in strengthening ties Published: Dec 04, 2025 11:49 PM "
        "Ambassador of Kazakhstan to China Shakhrat Nuryshev"
    )
    lines = paragraph_lines([header, *CITIES[:2]], top=740)
    pdf = make_pdf([Page(lines)], {"CreationDate": "D:20261202120000Z"})
    doc, _ = read(write(tmp_path / "news.pdf", pdf))
    assert doc is not None and doc.published == "2025-12-04"


def test_paragraphs_pages_title_and_date(tmp_path: Path) -> None:
    doc, warnings = read(write(tmp_path / "guide.pdf", three_pages()))
    assert doc is not None and warnings == []
    assert doc.kind == "pdf" and doc.title == "Cities of Kazakhstan"
    assert doc.published == "2024-03-05"
    # one paragraph per line, a blank line between them, as the chunker reads text
    assert doc.text == "\n\n".join(CITIES) + "\n"
    assert doc.pages == (0, doc.text.index("Shymkent"), doc.text.index("Karaganda"))
    assert doc.page_labels == ()


def test_running_header_and_page_numbers_are_dropped(tmp_path: Path) -> None:
    doc, _ = read(write(tmp_path / "guide.pdf", three_pages()))
    assert doc is not None
    assert "short guide" not in doc.text
    assert not any(line.strip().isdigit() for line in doc.text.splitlines())


def test_a_single_page_keeps_its_first_and_last_lines(tmp_path: Path) -> None:
    lines = [(72, 760, 9, "Cities of Kazakhstan - a short guide"), *paragraph_lines(CITIES[:1])]
    doc, _ = read(write(tmp_path / "one.pdf", make_pdf([Page(lines)])))
    assert doc is not None and doc.text.startswith("Cities of Kazakhstan - a short guide\n\n")


def test_two_columns_are_read_one_after_the_other(tmp_path: Path) -> None:
    """The content stream draws the columns line by line across the page, as some writers do;
    the text reads the left column, then the right one."""
    left = paragraph_lines(CITIES[:2], top=680, width=42)
    right = paragraph_lines(CITIES[2:4], top=680, width=42, x=330)
    interleaved = [line for pair in zip(left, right, strict=False) for line in pair]
    interleaved += left[len(right) :] + right[len(left) :]
    title = (72, 730, 20, "Four cities")
    doc, _ = read(write(tmp_path / "two.pdf", make_pdf([Page([title, *interleaved])])))
    assert doc is not None
    assert doc.text == "\n\n".join(["Four cities", *CITIES[:4]]) + "\n"
    assert doc.headings == (0,)  # the title, in larger type, heads the text below it


def test_a_word_hyphenated_at_a_line_end_is_joined(tmp_path: Path) -> None:
    lines = [
        (72, 700, 11, "The embassy said the programme was an extra-"),
        (72, 686, 11, "ordinary success and that the China-"),
        (72, 672, 11, "Kazakhstan ties would grow."),
    ]
    doc, _ = read(write(tmp_path / "hyphen.pdf", make_pdf([Page(lines)])))
    assert doc is not None
    assert doc.text == (
        "The embassy said the programme was an extraordinary success and that the "
        "China-Kazakhstan ties would grow.\n"
    )


def test_a_heading_at_the_foot_of_a_page_is_not_run_into_the_next_page(tmp_path: Path) -> None:
    pages = [
        Page([*paragraph_lines(CITIES[:1]), (72, 80, 16, "Cities of the south")]),
        Page(paragraph_lines(CITIES[2:3])),
    ]
    doc, _ = read(write(tmp_path / "foot.pdf", make_pdf(pages)))
    assert doc is not None
    assert doc.text == f"{CITIES[0]}\n\nCities of the south\n\n{CITIES[2]}\n"
    assert doc.headings == (doc.text.index("Cities of the south"),)
    assert doc.pages == (0, doc.text.index("Shymkent"))


def test_a_scanned_page_among_text_pages_is_named_in_a_warning(tmp_path: Path) -> None:
    pages = [Page(paragraph_lines(CITIES[:1])), Page(image=True), Page(), Page(image=True)]
    doc, warnings = read(write(tmp_path / "mixed.pdf", make_pdf(pages)))
    assert doc is not None and doc.text == CITIES[0] + "\n"
    assert warnings == [
        "mixed.pdf: pages 2, 4 hold only images, no text layer (scanned?); "
        "kzqa does not read text in images"
    ]


def test_printed_page_labels_are_read(tmp_path: Path) -> None:
    doc, _ = read(write(tmp_path / "l.pdf", three_pages(labels="0 << /S /r >> 1 << /S /D >>")))
    assert doc is not None and doc.page_labels == ("i", "1", "2")


def test_an_image_among_the_text_is_no_reason_to_call_a_pdf_binary(tmp_path: Path) -> None:
    pdf = make_pdf([Page(paragraph_lines(CITIES[:1]), image=True)])
    assert b"\x00" in pdf[:8192]
    doc, _ = read(write(tmp_path / "figure.pdf", pdf))
    assert doc is not None and doc.text == CITIES[0] + "\n"


@pytest.mark.parametrize(
    ("pdf", "reason"),
    [
        (make_pdf([Page(image=True), Page(image=True)]), "no text layer (a scan"),
        (make_pdf([Page()]), "no text layer"),
        (encrypt(make_pdf([Page(paragraph_lines(CITIES))]), "secret"), "encrypted"),
        (make_pdf([Page(paragraph_lines(CITIES))])[:700], "truncated or damaged"),
        (b"%PDF-1.4\nnot really a PDF\n", "truncated or damaged"),
    ],
)
def test_unreadable_pdfs_are_skipped_with_the_reason(
    tmp_path: Path, pdf: bytes, reason: str
) -> None:
    doc, warnings = read(write(tmp_path / "bad.pdf", pdf))
    assert doc is None and len(warnings) == 1
    assert warnings[0].startswith("skipped bad.pdf: ") and reason in warnings[0]


def test_bad_pdfs_are_skipped_and_the_rest_indexed(cfg: Config, fake_embedder) -> None:
    write(cfg.corpus / "guide.pdf", three_pages())
    write(cfg.corpus / "scan.pdf", make_pdf([Page(image=True)]))
    write(cfg.corpus / "locked.pdf", encrypt(three_pages(), "secret"))
    write(cfg.corpus / "cut.pdf", three_pages()[:900])
    result = runner.invoke(app, ["index", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["skipped"] == ["cut.pdf", "locked.pdf", "scan.pdf"]
    assert sorted(report["added"]) == ["academic-exchanges-china-kazakhstan.txt", "guide.pdf"]
    assert "Traceback" not in result.stderr
    for line in ("cut.pdf: not a readable PDF", "locked.pdf: encrypted", "scan.pdf: no text"):
        assert any(line in w for w in report["warnings"]), report["warnings"]


def test_a_citation_names_its_pages(cfg: Config, fake_embedder) -> None:
    write(cfg.corpus / "guide.pdf", three_pages(labels="0 << /S /D /St 41 >>"))
    build_index(cfg, embedder=fake_embedder)
    result = Searcher.open(cfg, fake_embedder).search("mausoleum of Khoja Ahmed Yasawi", k=1)
    hit = result.hits[0]
    c = hit.as_dict(1)["citation"]
    assert c["source"].endswith("guide.pdf") and "Yasawi" in hit.passage.text
    assert (c["page"], c["end_page"], c["page_label"], c["end_page_label"]) == (3, 3, "43", "43")
    assert c["offsets"] == "extracted_text" and c["verified"] is True
    assert "guide.pdf p. 43" in ask_text(result, cfg.corpus)


def test_a_passage_across_a_page_break_cites_both_pages(cfg: Config, fake_embedder) -> None:
    """A paragraph that runs on to the next page is one paragraph, on pages 1-2."""
    lines = paragraph_lines([CITIES[0]])
    first, rest = lines[:1], [(x, 740 - (y - lines[1][1]), s, t) for x, y, s, t in lines[1:]]
    write(cfg.corpus / "split.pdf", make_pdf([Page(first), Page(rest)]))
    (cfg.corpus / "academic-exchanges-china-kazakhstan.txt").unlink()
    build_index(cfg, embedder=fake_embedder)
    hit = Searcher.open(cfg, fake_embedder).search("Almaty capital until 1997", k=1).hits[0]
    assert hit.passage.text == CITIES[0]
    assert (hit.source.page, hit.source.end_page) == (1, 2) and hit.source.page_label is None
    assert hit.source.pages_text() == "pp. 1–2"
    assert "page_label" not in hit.as_dict(1)["citation"]


def test_text_files_have_no_page_in_their_citation(cfg: Config, fake_embedder) -> None:
    build_index(cfg, embedder=fake_embedder)
    hit = Searcher.open(cfg, fake_embedder).search("Luban Workshops", k=1).hits[0]
    c = hit.as_dict(1)["citation"]
    assert "page" not in c and c["offsets"] == "file_text"


def test_a_changed_pdf_reembeds_only_its_changed_passage(cfg: Config, fake_embedder) -> None:
    pdf = cfg.corpus / "guide.pdf"
    write(pdf, three_pages())
    build_index(cfg, embedder=fake_embedder)
    edited = [c.replace("third city", "third-largest city") for c in CITIES]
    write(pdf, three_pages(edited))
    fake_embedder.embedded.clear()
    report = build_index(cfg, embedder=fake_embedder)
    assert report.changed == ["guide.pdf"] and report.passages_embedded == 1
    assert "third-largest city" in fake_embedder.embedded[0]
    hit = Searcher.open(cfg, fake_embedder).search("Shymkent third-largest city", k=1).hits[0]
    assert hit.source.verified and hit.source.page == 2


def test_an_index_without_pages_loads_and_a_damaged_pages_list_is_refused(
    cfg: Config, fake_embedder
) -> None:
    from kzqa import store
    from kzqa.errors import StoreError
    from kzqa.files import write_text_atomic

    write(cfg.corpus / "guide.pdf", three_pages())
    build_index(cfg, embedder=fake_embedder)
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None and manifest.files["guide.pdf"]["pages"][0] == 0
    assert "pages" not in manifest.files["academic-exchanges-china-kazakhstan.txt"]
    del manifest.files["guide.pdf"]["pages"]  # as an index built before PDFs had pages
    write_text_atomic(cfg.index / store.MANIFEST, manifest.to_json())
    hit = Searcher.open(cfg, fake_embedder).search("mausoleum of Khoja Ahmed Yasawi", k=1).hits[0]
    assert hit.source.page == 0 and "page" not in hit.as_dict(1)["citation"]
    manifest.files["guide.pdf"]["pages"] = ["one"]
    write_text_atomic(cfg.index / store.MANIFEST, manifest.to_json())
    with pytest.raises(StoreError, match="files entry for 'guide.pdf' is malformed"):
        store.read_manifest(cfg.index)
