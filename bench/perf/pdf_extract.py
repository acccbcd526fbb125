"""PDF text extraction: pypdfium2 (as kzqa reads it, and plain) against pypdf, on the same
files; and `kzqa index` of a 100-page PDF (issue 12).

Files (made here, in bench/out/pdf/): the seed article printed by headless Chromium (with
its running header and footer), the article in two CSS columns, a page whose content stream
draws two columns line by line across the page, a line ending in a hyphenated word, and 100+
pages of COVID-QA articles printed by Chromium.

Quality: share of the article's sentences found whole in the text (whitespace folded); the
two columns read one after the other; the hyphenated word made whole; Chromium's running
header and footer left in the text (file:// lines). Speed: pages per second on the 100 pages.

    .venv/bin/python bench/perf/pdf_extract.py [--index]
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
sys.path.insert(0, str(ROOT / "tests"))  # the PDF makers the tests use

from kzqa.chunking import split_sentences  # noqa: E402
from kzqa.corpus import pdf as kzqa_pdf  # noqa: E402
from kzqa.kept import Kept  # noqa: E402
from pdfs import Page, article_html, make_pdf, paragraph_lines, print_to_pdf  # noqa: E402

ARTICLE = ROOT / "corpus" / "academic-exchanges-china-kazakhstan.txt"
COVIDQA = ROOT.parent / "shared" / "eval" / "covidqa" / "corpus.jsonl"
OUT = ROOT / "bench" / "out" / "pdf"
LONG_PAGES = 100


def kzqa_text(raw: bytes) -> str:
    kzqa_pdf._extracted = Kept(kzqa_pdf.CACHE)  # time the extraction, not the cache
    return kzqa_pdf.extract_pdf(raw, hashlib.sha256(raw).hexdigest()).text


def pdfium_plain(raw: bytes) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(raw)
    return "\n".join(page.get_textpage().get_text_range() for page in pdf)


def pypdf_text(raw: bytes, mode: str = "plain") -> str:
    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(raw))
    return "\n".join(p.extract_text(extraction_mode=mode) for p in reader.pages)


EXTRACTORS: dict[str, Callable[[bytes], str]] = {
    "pypdfium2 (kzqa: lines, columns, paragraphs)": kzqa_text,
    "pypdfium2 get_text_range": pdfium_plain,
    "pypdf extract_text": pypdf_text,
    "pypdf extract_text layout": lambda raw: pypdf_text(raw, "layout"),
}


def fold(text: str) -> str:
    return " ".join(text.replace("\ufffe", "-").replace("\x02", "-").split())


def make_files() -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    article = ARTICLE.read_text(encoding="utf-8")
    page = OUT / "article.html"
    page.write_text(article_html(article, "Academic exchanges"), encoding="utf-8")
    columns = OUT / "columns.html"
    columns.write_text(
        article_html(article, "Academic exchanges").replace(
            "body{font:17pt serif}", "body{font:12pt serif;columns:2;column-gap:2em}"
        ),
        encoding="utf-8",
    )
    files = {
        "article": print_to_pdf(page, OUT / "article.pdf"),
        "columns": print_to_pdf(columns, OUT / "columns.pdf"),
    }
    left = paragraph_lines(["Left column, first paragraph, read first."] * 3, top=680, width=40)
    right = paragraph_lines(
        ["Right column, second paragraph, read next."] * 3, 680, width=40, x=330
    )
    interleaved = [ln for pair in zip(left, right, strict=True) for ln in pair]
    files["interleaved"] = OUT / "interleaved.pdf"
    files["interleaved"].write_bytes(make_pdf([Page(interleaved)]))
    hyphen = [(72, 700, 11, "an extra-"), (72, 686, 11, "ordinary success")]
    files["hyphen"] = OUT / "hyphen.pdf"
    files["hyphen"].write_bytes(make_pdf([Page(hyphen)]))
    long = OUT / "covidqa.html"
    blocks = []
    with COVIDQA.open(encoding="utf-8") as fh:
        for line in fh:
            blocks += [p for p in json.loads(line)["text"].split("\n\n") if p.strip()]
            if len(blocks) > 10 * LONG_PAGES:  # about 10 paragraphs a page
                break
    long.write_text(
        "<!doctype html><meta charset=utf-8><title>COVID-QA</title>"
        + "".join(f"<p>{html.escape(b)}</p>" for b in blocks),
        encoding="utf-8",
    )
    files["long"] = print_to_pdf(long, OUT / "covidqa.pdf")
    return files


def quality(files: dict[str, Path]) -> None:
    article = ARTICLE.read_text(encoding="utf-8")
    sentences = [fold(article[s:e]) for s, e in split_sentences(article)]
    long = files["long"].read_bytes()
    pages = len(__import__("pypdfium2").PdfDocument(long))
    print(
        f"| extractor | sentences whole (article / 2 columns) | columns in order | hyphen "
        f"joined | header/footer lines left | pages/s ({pages} pages) |"
    )
    print("|---|---|---|---|---|---|")
    for name, extract in EXTRACTORS.items():
        whole = []
        for key in ("article", "columns"):
            text = fold(extract(files[key].read_bytes()))
            whole.append(f"{sum(s in text for s in sentences)}/{len(sentences)}")
        inter = fold(extract(files["interleaved"].read_bytes()))
        in_order = inter.rfind("Left") < inter.find("Right")
        joined = "extraordinary" in fold(extract(files["hyphen"].read_bytes()))
        running = extract(files["article"].read_bytes()).replace("\ufb01", "fi").count("file://")
        times = []
        for _ in range(3):
            started = time.perf_counter()
            extract(long)
            times.append(time.perf_counter() - started)
        speed = pages / statistics.median(times)
        print(
            f"| {name} | {' / '.join(whole)} | {'yes' if in_order else 'no'} | "
            f"{'yes' if joined else 'no'} | {running} | {speed:.0f} |"
        )


def index_time(files: dict[str, Path]) -> None:
    from kzqa.build import build_index
    from kzqa.config import load_config
    from kzqa.embed import open_embedder

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        shutil.copy(files["long"], corpus / "covidqa.pdf")
        cfg = load_config(None, corpus, Path(tmp) / "index")
        embedder = open_embedder(cfg.model, cfg.batch_size)  # loaded before timing
        report = build_index(cfg, embedder=embedder)
        print(
            f"\nkzqa index, {files['long'].name} ({report.passages_total} passages, "
            f"model {cfg.model}): {report.seconds:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", action="store_true", help="also time `kzqa index` of it")
    args = parser.parse_args()
    files = make_files()
    quality(files)
    if args.index:
        index_time(files)


if __name__ == "__main__":
    main()
