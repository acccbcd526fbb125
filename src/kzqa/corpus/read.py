"""One corpus file -> a Document: its bytes decoded, its text and metadata by type."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..records import Document
from .html import extract_page
from .metadata import markdown_metadata, text_metadata
from .pdf import PdfError, extract_pdf
from .scan import KINDS, FileEntry

BINARY_SNIFF = 8192  # bytes inspected for NULs before a file is called binary


def read_document(entry: FileEntry) -> tuple[Document | None, list[str]]:
    """Read one file into a Document; None (with a warning) when it cannot be used."""
    try:
        raw = entry.abspath.read_bytes()
    except OSError as exc:
        return None, [f"skipped {entry.path}: {exc.strerror}"]
    digest = hashlib.sha256(raw).hexdigest()
    kind = KINDS[Path(entry.path).suffix.lower()]
    if kind == "pdf":
        return _read_pdf(entry, raw, digest)
    if b"\x00" in raw[:BINARY_SNIFF]:
        return None, [f"skipped {entry.path}: binary file"]
    warnings = []
    text, encoding = decode(raw)
    if encoding != "utf-8":
        warnings.append(f"{entry.path} is not UTF-8; read it as {encoding}")
    title: str | None
    headings: tuple[int, ...] = ()
    if kind == "html":
        text, title, published, headings = extract_page(text)
    elif kind == "markdown":
        title, published = markdown_metadata(text)
    else:
        title, published = text_metadata(text)
    if not text.strip():
        return None, [*warnings, f"skipped {entry.path}: no text"]
    doc = Document(
        entry.path, text, kind, title, published, digest, entry.size, entry.mtime_ns, headings
    )
    return doc, warnings


def _read_pdf(entry: FileEntry, raw: bytes, digest: str) -> tuple[Document | None, list[str]]:
    try:
        pdf = extract_pdf(raw, digest)
    except PdfError as exc:
        return None, [f"skipped {entry.path}: {exc}"]
    doc = Document(
        entry.path,
        pdf.text,
        "pdf",
        pdf.title,
        pdf.published,
        digest,
        entry.size,
        entry.mtime_ns,
        headings=pdf.headings,
        pages=pdf.pages,
        page_labels=pdf.labels,
    )
    if not pdf.scanned:
        return doc, []
    pages = ", ".join(map(str, pdf.scanned))
    return doc, [
        f"{entry.path}: page{'s' if len(pdf.scanned) > 1 else ''} {pages} "
        "hold only images, no text layer (scanned?); kzqa does not read text in images"
    ]


def read_file(root: Path, path: str) -> Document | None:
    """The corpus file at `path` (relative to root) read as a build reads it, for re-reading a
    cited file; None when it holds no usable text. OSError when it is gone."""
    full = root / path
    st = full.stat()
    doc, _ = read_document(FileEntry(path, full, st.st_size, st.st_mtime_ns))
    return doc


def decode(raw: bytes) -> tuple[str, str]:
    """UTF-8 when it is; otherwise cp1252 (Windows text), then latin-1, which never fails."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"
