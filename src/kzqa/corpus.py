"""Corpus files -> Documents: which files are read, how, and what metadata they state."""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from .errors import CorpusError
from .records import Document

KINDS = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
}
BINARY_SNIFF = 8192  # bytes inspected for NULs before a file is called binary


@dataclass(frozen=True)
class FileEntry:
    """A corpus file as seen by a cheap scan (no reading, no hashing)."""

    path: str  # relative to the corpus folder, forward slashes
    abspath: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Scan:
    files: list[FileEntry]
    warnings: list[str]


def scan_corpus(root: Path, exclude: Path | None = None) -> Scan:
    """List readable corpus files; skip hidden files, `exclude` (the index) and other types."""
    if not root.is_dir():
        raise CorpusError(
            f"corpus folder not found: {root}",
            hint="create it and add .txt, .md or .html files, or pass --corpus",
        )
    excluded = exclude.resolve() if exclude is not None else None
    files: list[FileEntry] = []
    warnings: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and (excluded is None or (here / d).resolve() != excluded)
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = here / name
            rel = full.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # bytes the file system would not decode
                shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                warnings.append(f"skipped {shown}: its name is not valid UTF-8 (rename it)")
                continue
            if full.suffix.lower() not in KINDS:
                warnings.append(f"skipped {rel}: not a .txt, .md or .html file")
                continue
            try:
                st = full.stat()
            except OSError as exc:
                warnings.append(f"skipped {rel}: {exc.strerror}")
                continue
            if st.st_size == 0:
                warnings.append(f"skipped {rel}: empty file")
                continue
            files.append(FileEntry(rel, full, st.st_size, st.st_mtime_ns))
    return Scan(files, warnings)


def read_document(entry: FileEntry) -> tuple[Document | None, list[str]]:
    """Read one file into a Document; None (with a warning) when it cannot be used."""
    try:
        raw = entry.abspath.read_bytes()
    except OSError as exc:
        return None, [f"skipped {entry.path}: {exc.strerror}"]
    digest = hashlib.sha256(raw).hexdigest()
    if b"\x00" in raw[:BINARY_SNIFF]:
        return None, [f"skipped {entry.path}: binary file"]
    warnings = []
    text, encoding = decode(raw)
    if encoding != "utf-8":
        warnings.append(f"{entry.path} is not UTF-8; read it as {encoding}")
    kind = KINDS[Path(entry.path).suffix.lower()]
    title: str | None
    if kind == "html":
        text, title, published = extract_html(text)
    elif kind == "markdown":
        title, published = markdown_metadata(text)
    else:
        title, published = text_metadata(text)
    if not text.strip():
        return None, [*warnings, f"skipped {entry.path}: no text"]
    doc = Document(entry.path, text, kind, title, published, digest, entry.size, entry.mtime_ns)
    return doc, warnings


def decode(raw: bytes) -> tuple[str, str]:
    """UTF-8 when it is; otherwise cp1252 (Windows text), then latin-1, which never fails."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- metadata -----------------------------------------------------------------------------

_DATE_LINE = re.compile(r"^\s*(?:published|date|posted|updated)\s*:\s*(.+?)\s*$", re.I | re.M)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
HEADER_LINES = 10  # a news header (section, headline, date) sits in the first lines


def parse_date(value: str) -> str | None:
    """'Dec 04, 2025 11:49 PM' / '4 December 2025' / '2025-12-04' -> '2025-12-04'; None for
    anything else, and for a day the calendar does not have (Feb 30)."""
    value = str(value).strip()
    month: int | str
    if m := re.match(r"(\d{4})-(\d{2})-(\d{2})", value):
        year, month, day = m[1], m[2], m[3]
    elif m := re.match(r"([A-Za-z]{3})[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})", value):
        year, month, day = m[3], _MONTHS.get(m[1].lower(), 0), m[2]
    elif m := re.match(r"(\d{1,2})\s+([A-Za-z]{3})[a-z]*\.?,?\s+(\d{4})", value):
        year, month, day = m[3], _MONTHS.get(m[2].lower(), 0), m[1]
    else:
        return None
    try:
        return datetime.date(int(year), int(month), int(day)).isoformat()
    except ValueError:  # not a month's name (0), or a day the month does not have
        return None


def text_metadata(text: str) -> tuple[str | None, str | None]:
    """A plain-text news article: headline above a `Published:` line in its header."""
    lines = text.lstrip("\ufeff").splitlines()[:HEADER_LINES]  # a byte-order mark is no title
    for i, line in enumerate(lines):
        m = _DATE_LINE.match(line)
        if not m:
            continue
        published = parse_date(m[1])
        # The headline is the first line above the date that is not an all-caps section label.
        title = next(
            (ln.strip() for ln in lines[:i] if ln.strip() and any(c.islower() for c in ln)), None
        )
        return title, published
    first = lines[0].strip() if lines else ""
    standalone = len(lines) > 1 and not lines[1].strip()
    if first and standalone and len(first) <= 120 and not first.endswith((".", ",", ";", ":")):
        return first, None
    return None, None


_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)


def markdown_metadata(text: str) -> tuple[str | None, str | None]:
    """YAML front matter (title, date/published), else the first `# ` heading."""
    title = published = None
    m = _FRONT_MATTER.match(text)
    if m:
        import yaml

        try:
            meta = yaml.safe_load(m[1])
        except yaml.YAMLError:
            meta = None
        if isinstance(meta, dict):
            if meta.get("title"):
                title = str(meta["title"]).strip()
            for key in ("published", "date"):
                if meta.get(key):
                    published = parse_date(str(meta[key]))
                    break
    if title is None:
        h = re.search(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", text, re.M)
        title = h[1] if h else None
    return title, published


def front_matter_end(text: str) -> int:
    """Offset where a Markdown file's body starts (after YAML front matter, if any)."""
    m = _FRONT_MATTER.match(text)
    return m.end() if m else 0


# --- HTML ---------------------------------------------------------------------------------

_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "nav",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "br",
    "hr",
    "figure",
    "figcaption",
    "dd",
    "dt",
    "body",
}
_HIDDEN = {"script", "style", "noscript", "template", "svg"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        # <head> ends at </head> or, as browsers read it, at <body> when </head> is left out.
        self.in_head = False
        self.title: str | None = None
        self.h1: str | None = None
        self.published: str | None = None
        self._capture: str | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta":
            name = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if (
                name
                in (
                    "article:published_time",
                    "date",
                    "pubdate",
                    "datepublished",
                    "dc.date",
                    "publish-date",
                )
                and not self.published
            ):
                self.published = parse_date(a.get("content", ""))
        elif tag == "time" and a.get("datetime") and not self.published:
            self.published = parse_date(a["datetime"])
        if tag in ("title", "h1") and self._capture is None:
            self._capture, self._buffer = tag, []
        if tag in ("head", "body"):
            self.in_head = tag == "head"
        if tag in _HIDDEN:
            self.hidden += 1
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._capture:
            value = " ".join("".join(self._buffer).split()) or None
            if tag == "title":
                self.title = self.title or value
            else:
                self.h1 = self.h1 or value
            self._capture = None
        if tag == "head":
            self.in_head = False
        if tag in _HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._buffer.append(data)
        if not self.hidden and not self.in_head:
            self.parts.append(re.sub(r"\s+", " ", data))


def extract_html(html: str) -> tuple[str, str | None, str | None]:
    """Visible text of an HTML page, one paragraph per block element, plus title and date."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    joined = "".join(parser.parts)
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", joined)]
    text = "\n\n".join(p for p in paragraphs if p) + "\n"
    return text, parser.title or parser.h1, parser.published
