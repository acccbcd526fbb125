"""PDF -> its text in reading order (pypdfium2), where each page starts in it, title and date.

text layer -> lines (with their boxes) -> running headers and footers dropped -> columns
read one after the other -> lines joined into paragraphs (words hyphenated at a line end
joined) -> one paragraph per line, a blank line between paragraphs (as the chunker reads)
"""

from __future__ import annotations

import bisect
import re
import statistics
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..kept import Kept
from .blocks import Extracted, Unreadable
from .metadata import parse_date, text_metadata

MARGIN = 0.1  # running headers and footers sit in the top and bottom tenth of a page
EDGE_LINES = 3  # ... among its first or last lines
RUNNING_SHARE = 0.5  # a line counts as running when it is on at least half the pages (and 2)
SEGMENT_GAP = 1.0  # letters on one baseline further apart than this x the type size: columns
PARAGRAPH_PITCH = 1.4  # a line this many times the usual line spacing below the last: new paragraph
SHORT_LINE = 0.6  # a line ending a sentence before this share of the column width ends a paragraph
HEADING_SIZE = 1.15  # a short paragraph in type this much larger than the body's is a heading
MAX_HEADING = 200  # characters; longer is a paragraph in large type, not a heading
CACHE = 16  # extracted PDFs kept by content hash: a citation check re-reads the cited file
HEADER_CHARS = 1500  # a news page's header (headline, byline, date) lies in its first text
# pdfium reads a hyphen at a line end as \x02 (or U+FFFE), whether the word has one or not;
# U+00AD is a soft hyphen, shown only where a line breaks.
_LINE_END_HYPHENS = "\x02\ufffe"
_SOFT_HYPHEN = "\u00ad"
_SENTENCE_END = re.compile(r"[.!?:;…][\"'”’)\]]*$")
# A line break pdfium made, or a word: pdfium runs a word hyphenated at a line end on without
# a break ("extra\ufffeordinary"), so its hyphen ends a word here.
_WORD = re.compile("\r\n?|\n|[^\\s\x02\ufffe]+[\x02\ufffe]?|[\x02\ufffe]")
# "Published: Dec 04, 2025 11:49 PM" inside a paragraph, where a page set it beside the headline.
_INLINE_DATE = re.compile(
    r"\b(?:published|posted|updated)\s*:\s*"
    r"([A-Z][a-z]{2,8}\.? \d{1,2},? \d{4}|\d{4}-\d{2}-\d{2}|\d{1,2} [A-Z][a-z]+ \d{4})",
    re.I,
)
_FILE_NAME = re.compile(r"\.[A-Za-z0-9]{2,4}$|^Microsoft Word - |^untitled$", re.I)

_pdfium = threading.Lock()  # pdfium is not thread-safe, and the server reads on several threads
_extracted: Kept[str, Extracted] = Kept(CACHE)


@dataclass
class _Line:
    left: float
    bottom: float
    right: float
    top: float
    text: str
    size: float = 0.0  # type size of its first letter, in points
    soft_hyphen: bool = False  # the line ends in a soft hyphen: the word goes on


@dataclass
class _Paragraph:
    text: str
    size: float  # type size of its first line
    heading: bool = False


def extract_pdf(raw: bytes, digest: str) -> Extracted:
    """The text of a PDF, where its pages start, its title and date (cached by `digest`, its
    SHA-256); Unreadable when it cannot be read."""
    found = _extracted.get(digest)
    if found is None:
        with _pdfium:
            found = _extract(raw)
        _extracted.put(digest, found)
    return found


def page_range(pages: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """The 1-based physical pages of text[start:end], given where each page starts."""
    first = max(1, bisect.bisect_right(pages, start))
    return first, max(first, bisect.bisect_right(pages, max(start, end - 1)))


def page_fields(meta: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    """A cited span's pages, from a manifest `files` entry (a Source's page fields); {} for
    a file that is not a PDF (or was indexed before pages were recorded)."""
    pages = meta.get("pages")
    if not pages:
        return {}
    page, end_page = page_range(pages, start, end)
    out: dict[str, Any] = {"page": page, "end_page": end_page}
    labels = meta.get("page_labels") or []
    if len(labels) >= end_page and labels[page - 1] and labels[end_page - 1]:
        out |= {"page_label": labels[page - 1], "end_page_label": labels[end_page - 1]}
    return out


def _extract(raw: bytes) -> Extracted:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        raise Unreadable(_why(exc)) from None
    try:
        try:
            pages = []
            scanned = []  # pages that are images with no text on them: scans
            for i in range(len(pdf)):
                page = pdf[i]
                try:
                    pages.append(_page_lines(page))
                    if not pages[-1][0] and _has_image(page):
                        scanned.append(i + 1)
                finally:
                    page.close()
            labels = tuple(pdf.get_page_label(i) for i in range(len(pdf)))
            meta = pdf.get_metadata_dict(skip_empty=True)
        except pdfium.PdfiumError as exc:
            raise Unreadable(f"damaged PDF ({exc})") from None
    finally:
        pdf.close()
    if not any(lines for lines, _ in pages):
        raise Unreadable(
            "no text layer (a scan, or images only); kzqa does not read text in images"
        )
    _drop_running(pages)
    paragraphs = [_paragraphs(_reading_order(lines)) for lines, _ in pages]
    body = _body_size([ln for lines, _ in pages for ln in lines])
    for p in (p for page in paragraphs for p in page):
        p.heading = (
            p.size >= HEADING_SIZE * body
            and len(p.text) <= MAX_HEADING
            and not _SENTENCE_END.search(p.text)
        )
    text, starts, headings = _join_pages(paragraphs)
    title, published = text_metadata(text)
    if published is None:  # a header set as one paragraph: "… Published: Dec 04, 2025 …"
        found = _INLINE_DATE.search(text[:HEADER_CHARS])
        published = parse_date(found[1]) if found else None
    meta_title = " ".join(str(meta.get("Title", "")).split())
    if meta_title and not _FILE_NAME.search(meta_title):
        title = meta_title
    if published is None:  # when the file was made: the best date a PDF without one states
        published = _pdf_date(str(meta.get("CreationDate", "")))
    labels = labels if any(labels) else ()
    notes: tuple[str, ...] = ()
    if scanned:
        numbers = ", ".join(map(str, scanned))
        notes = (
            f"page{'s' if len(scanned) > 1 else ''} {numbers} hold only images, no text layer "
            "(scanned?); kzqa does not read text in images",
        )
    return Extracted(
        text,
        title,
        published,
        headings=tuple(headings),
        pages=tuple(starts),
        page_labels=labels,
        notes=notes,
    )


def _has_image(page: Any) -> bool:
    import pypdfium2.raw as pdfium_c

    return any(True for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)))


def _body_size(lines: list[_Line]) -> float:
    """The type size most of the text is set in."""
    sizes: Counter[float] = Counter()
    for ln in lines:
        sizes[round(ln.size, 1)] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


_REASONS = {  # pdfium's FPDF_ERR_* codes, in words
    2: "the file cannot be opened",
    3: "not a readable PDF (truncated or damaged)",
    4: "encrypted (it needs a password)",
    6: "encrypted with a security handler PDFium does not support",
}


def _why(exc: Any) -> str:
    return _REASONS.get(getattr(exc, "err_code", 0) or 0, f"not a readable PDF ({exc})")


def _pdf_date(value: str) -> str | None:
    """The date of a PDF date string: D:20240305120000Z -> 2024-03-05."""
    m = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", value.strip())
    return parse_date(f"{m[1]}-{m[2]}-{m[3]}") if m else None


def _page_lines(page: Any) -> tuple[list[_Line], float]:
    """The text lines of one page with their boxes (pieces far apart on one baseline, as in
    columns, kept apart), top first; and the page's height. Read word by word, a
    word's box from its first and last letters' (pdfium's own text rectangles cut a line into
    overlapping runs; a call per letter would be most of the time spent)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    box = [ctypes.c_double() for _ in range(4)]
    refs = [ctypes.byref(b) for b in box]
    lines: list[_Line] = []
    words: list[str] = []
    line: _Line | None = None

    def close() -> None:
        nonlocal line
        if line is not None:
            text = " ".join(words)
            if text.endswith(tuple(_LINE_END_HYPHENS)):
                text = text[:-1] + "-"
            line.soft_hyphen = text.endswith(_SOFT_HYPHEN)
            text = re.sub(f"[{_LINE_END_HYPHENS}{_SOFT_HYPHEN}\x00-\x1f]", " ", text)
            line.text = " ".join(text.split())
            if line.text:
                lines.append(line)
        line = None
        words.clear()

    try:
        raw = textpage.raw
        count = pdfium_c.FPDFText_CountChars(raw)
        text = textpage.get_text_range(0, count)  # one call, not one per letter...
        if len(text) != count:  # ... unless a letter outside the BMP took two UTF-16 units
            text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, i) or 0x20) for i in range(count))
        for m in _WORD.finditer(text):
            if m[0][0] in "\r\n":
                close()
                continue
            first, last = _box(raw, m.start(), refs, box), _box(raw, m.end() - 1, refs, box)
            if first is None or last is None:
                if line is not None:
                    words.append(m[0])
                continue
            left, right = first[0], last[1]
            bottom, top = min(first[2], last[2]), max(first[3], last[3])
            if line is not None:
                size = line.size
                far = left - line.right > SEGMENT_GAP * size or right < line.left - size
                if far or bottom > line.top or top < line.bottom:
                    close()
            if line is None:
                size = pdfium_c.FPDFText_GetFontSize(raw, m.start()) or 1.5 * (top - bottom)
                line = _Line(left, bottom, right, top, "", size)
            else:
                line.right = max(line.right, right)
                line.top, line.bottom = max(line.top, top), min(line.bottom, bottom)
            words.append(m[0])
        close()
    finally:
        textpage.close()
        height = page.get_height()
    lines.sort(key=lambda ln: -ln.top)  # stable: pieces of one line keep their order
    return lines, height


def _box(raw: Any, index: int, refs: list[Any], box: list[Any]) -> tuple[float, ...] | None:
    """A letter's (left, right, bottom, top); None when pdfium knows none (a made-up space)."""
    import pypdfium2.raw as pdfium_c

    if not pdfium_c.FPDFText_GetCharBox(raw, index, *refs):
        return None
    return tuple(b.value for b in box)


def _drop_running(pages: list[tuple[list[_Line], float]]) -> None:
    """Remove lines repeated at the top or bottom of most pages (page numbers counted as one
    line whatever their number): running headers and footers."""
    if len(pages) < 2:
        return

    def edge(lines: list[_Line], height: float) -> list[_Line]:
        ends = lines[:EDGE_LINES] + lines[-EDGE_LINES:]  # lines are top first
        return [ln for ln in ends if ln.top > height * (1 - MARGIN) or ln.bottom < height * MARGIN]

    counts: Counter[str] = Counter()
    for lines, height in pages:
        counts.update({_running_key(ln.text) for ln in edge(lines, height)})
    need = max(2, RUNNING_SHARE * len(pages))
    for lines, height in pages:
        found = edge(lines, height)
        running = {id(ln) for ln in found if counts[_running_key(ln.text)] >= need}
        lines[:] = [ln for ln in lines if id(ln) not in running]


def _running_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _reading_order(lines: list[_Line]) -> list[_Line]:
    """Lines top to bottom; on a two-column page, the left column before the right one between
    lines that span both (a title, a wide figure)."""
    if not lines:
        return lines
    left = min(ln.left for ln in lines)
    mid = (left + max(ln.right for ln in lines)) / 2
    side = {id(ln): "L" if ln.right < mid else "R" if ln.left > mid else "F" for ln in lines}
    sides = Counter(side.values())
    if sides["L"] < 3 or sides["R"] < 3:
        return lines
    out: list[_Line] = []
    columns: dict[str, list[_Line]] = {"L": [], "R": []}
    for ln in lines:
        if side[id(ln)] == "F":
            out += columns["L"] + columns["R"] + [ln]
            columns = {"L": [], "R": []}
        else:
            columns[side[id(ln)]].append(ln)
    return out + columns["L"] + columns["R"]


def _paragraphs(lines: list[_Line]) -> list[_Paragraph]:
    """One page's lines joined into paragraphs."""
    pitches = [a.top - b.top for a, b in zip(lines, lines[1:], strict=False) if a.top > b.top]
    pitch = statistics.median(pitches) if pitches else 0.0
    out: list[_Paragraph] = []
    prev: _Line | None = None
    column_right = 0.0
    for ln in lines:
        if prev is None or _breaks(prev, ln, pitch, column_right):
            out.append(_Paragraph(ln.text, ln.size))
            column_right = ln.right
        else:
            out[-1].text = _join_lines(out[-1].text, ln.text, prev.soft_hyphen)
        column_right = max(column_right, ln.right)
        prev = ln
    return out


def _breaks(a: _Line, b: _Line, pitch: float, column_right: float) -> bool:
    """Whether line b starts a new paragraph after line a."""
    if abs(a.size - b.size) > 0.1 * max(a.size, b.size):
        return True  # a heading, or a caption: another size of type
    ends_sentence = bool(_SENTENCE_END.search(a.text))
    width = column_right - a.left
    short = ends_sentence and width > 0 and (a.right - a.left) < SHORT_LINE * width
    if b.top >= a.top:  # the next column, or a line beside: continue unless a ended short
        return short
    return short or (pitch > 0 and a.top - b.top > PARAGRAPH_PITCH * pitch)


def _join_lines(a: str, b: str, soft_hyphen: bool) -> str:
    """Two lines of one paragraph: a word hyphenated across them made whole again."""
    if soft_hyphen:
        return a + b
    if a.endswith("-") and len(a) > 1 and a[-2].isalpha():
        if b[:1].islower():
            return a[:-1] + b  # "hyphen-" "ated" -> "hyphenated"
        return a + b  # "China-" "Kazakhstan" keeps its hyphen
    return f"{a} {b}"


def _join_pages(pages: list[list[_Paragraph]]) -> tuple[str, list[int], list[int]]:
    """The paragraphs of all pages as one text; where each page starts in it, and where each
    heading does. A page that begins mid-sentence continues the last paragraph of the page
    before (never a heading's)."""
    out: list[_Paragraph] = []
    starts: list[int] = []
    headings: list[int] = []
    at = 0  # len("\n\n".join(p.text for p in out))
    for page in pages:
        rest = list(page)
        if rest and out and _continues(out[-1], rest[0]):
            last, first = out[-1], rest.pop(0)
            joined = _join_lines(last.text, first.text, False)
            # The page starts at its first character, inside the joined paragraph.
            starts.append(at - len(last.text) + len(joined) - len(first.text))
            at += len(joined) - len(last.text)
            last.text = joined
        else:
            starts.append(at + 2 if out and rest else at)
        for p in rest:
            at += 2 if out else 0
            if p.heading:
                headings.append(at)
            out.append(p)
            at += len(p.text)
    return "\n\n".join(p.text for p in out) + "\n", starts, headings


def _continues(last: _Paragraph, first: _Paragraph) -> bool:
    """Whether a page's first paragraph goes on with the last one of the page before."""
    if last.heading or first.heading:
        return False
    return not _SENTENCE_END.search(last.text) or first.text[:1].islower()
