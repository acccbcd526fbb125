"""One corpus file -> a Document: its bytes decoded, its text and metadata by type."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..records import Document
from .blocks import Extracted, Unreadable
from .encoding import byte_order_mark, declared_charset, web_name
from .encoding import decode as decode_bytes
from .html import read_html
from .metadata import markdown_metadata, text_metadata
from .office import read_docx, read_odt
from .scan import KINDS, FileEntry

# Bump when the text read from a file changes (it is part of the index fingerprint): 2 reads
# legacy encodings by detection, web pages by their article, .docx and .odt.
READER_VERSION = 2
BINARY_SNIFF = 8192  # bytes inspected for NULs before a file is called binary
_OFFICE = {"docx": read_docx, "odt": read_odt}


def read_document(entry: FileEntry) -> tuple[Document | None, list[str]]:
    """Read one file into a Document; None (with a warning) when it cannot be used."""
    try:
        raw = entry.abspath.read_bytes()
    except OSError as exc:
        return None, [f"skipped {entry.path}: {exc.strerror}"]
    digest = hashlib.sha256(raw).hexdigest()
    kind = KINDS[Path(entry.path).suffix.lower()]
    warnings: list[str] = []
    try:
        if kind in _OFFICE:
            found = _OFFICE[kind](raw)
        else:
            text, note = decode_text(raw, kind)
            if note:
                warnings.append(f"{entry.path} {note}")
            found = _extract(text, kind)
    except Unreadable as exc:
        return None, [*warnings, f"skipped {entry.path}: {exc}"]
    if not found.text.strip():
        return None, [*warnings, f"skipped {entry.path}: no text"]
    doc = Document(
        entry.path,
        found.text,
        kind,
        found.title,
        found.published,
        digest,
        entry.size,
        entry.mtime_ns,
        found.headings,
        found.author,
    )
    return doc, warnings


def read_file(root: Path, path: str) -> Document | None:
    """The corpus file at `path` (relative to root) read as a build reads it, for re-reading a
    cited file; None when it holds no usable text. OSError when it is gone."""
    full = root / path
    st = full.stat()
    doc, _ = read_document(FileEntry(path, full, st.st_size, st.st_mtime_ns))
    return doc


def decode_text(raw: bytes, kind: str) -> tuple[str, str | None]:
    """A text, Markdown or HTML file's bytes as text, and a note when they were not UTF-8 (the
    encoding used, and how it was known). Unreadable when they are binary."""
    if not byte_order_mark(raw) and b"\x00" in raw[:BINARY_SNIFF]:
        raise Unreadable("binary file")
    decoded = decode_bytes(raw, declared_charset(raw) if kind == "html" else None)
    if decoded.how == "byte-order mark":
        return decoded.text, f"is not UTF-8; read it as {decoded.encoding} (byte-order mark)"
    if decoded.how == "detected":
        return decoded.text, f"is not UTF-8; read it as {decoded.encoding}"
    return decoded.text, None


def decode(raw: bytes, kind: str = "text") -> tuple[str, str]:
    """raw as read_document decodes it, and the name of the encoding used."""
    decoded = decode_bytes(raw, declared_charset(raw) if kind == "html" else None)
    return decoded.text, decoded.encoding


def charset_of(raw: bytes, path: str) -> str:
    """The charset label (as browsers know it) of the encoding a text file at path is read in."""
    _, encoding = decode(raw, KINDS.get(Path(path).suffix.lower(), "text"))
    return web_name(encoding)


def _extract(text: str, kind: str) -> Extracted:
    if kind == "html":
        return read_html(text)
    title, published = markdown_metadata(text) if kind == "markdown" else text_metadata(text)
    return Extracted(text, title, published)
