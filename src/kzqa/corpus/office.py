"""Word (.docx) and OpenDocument (.odt) files -> text: one block per paragraph, heading and table
row (a row's cells joined by " | "), each block one line; title, date and author from the
document's properties."""

from __future__ import annotations

import datetime
import io
import zipfile
from typing import Any

from .blocks import CELL, Extracted, Unreadable, join_blocks, one_line


def read_docx(raw: bytes) -> Extracted:
    """A Word document's paragraphs, headings and table rows, in the order they appear."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(raw))
        blocks: list[tuple[str, bool]] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks += [(row, False) for row in _docx_rows(item)]
            else:
                style = item.style.name if item.style is not None else ""
                blocks.append((one_line(item.text), style.startswith(("Heading", "Title"))))
        props = document.core_properties
        title, author = props.title, props.author
        when = props.created or props.modified
    except Exception as exc:  # noqa: BLE001 - any failure of the parser means the same to a user
        raise Unreadable(_reason(exc, "Word file")) from None
    return _extracted(blocks, title, when, author)


def _docx_rows(table: Any) -> list[str]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is listed once per column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(one_line(cell.text))
        rows.append(CELL.join(cells))
    return rows


def read_odt(raw: bytes) -> Extracted:
    """An OpenDocument text's paragraphs, headings, list items and table rows, in order."""
    from odf import teletype
    from odf.namespaces import TABLENS, TEXTNS
    from odf.opendocument import load

    def walk(element: Any, blocks: list[tuple[str, bool]]) -> None:
        for node in element.childNodes:
            if node.nodeType != node.ELEMENT_NODE:
                continue
            if node.qname == (TEXTNS, "h"):
                blocks.append((one_line(teletype.extractText(node)), True))
            elif node.qname == (TEXTNS, "p"):
                blocks.append((one_line(teletype.extractText(node)), False))
            elif node.qname == (TABLENS, "table-row"):
                cells = [
                    one_line(teletype.extractText(cell))
                    for cell in node.childNodes
                    if cell.qname == (TABLENS, "table-cell")
                ]
                blocks.append((CELL.join(cells), False))
            else:  # sections, lists, tables and their headers hold the blocks
                walk(node, blocks)

    try:
        document = load(io.BytesIO(raw))
        blocks: list[tuple[str, bool]] = []
        walk(document.text, blocks)
        meta = {
            node.qname[1]: teletype.extractText(node).strip()
            for node in document.meta.childNodes
            if node.nodeType == node.ELEMENT_NODE
        }
    except Exception as exc:  # noqa: BLE001 - any failure of the parser means the same to a user
        raise Unreadable(_reason(exc, "OpenDocument file")) from None
    when = meta.get("creation-date") or meta.get("date")
    author = meta.get("initial-creator") or meta.get("creator")
    return _extracted(blocks, meta.get("title"), when, author)


def _extracted(
    blocks: list[tuple[str, bool]], title: str | None, when: Any, author: str | None
) -> Extracted:
    text, headings = join_blocks(blocks)
    if not title:  # as for Markdown: the first heading names the document
        title = next((t for t, heading in blocks if heading and t), None)
    return Extracted(text, title or None, _date(when), author or None, headings)


def _date(value: Any) -> str | None:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, str) and len(value) >= 10:
        try:
            return datetime.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None
    return None


def _reason(exc: Exception, kind: str) -> str:
    """Why a document could not be read, in one line."""
    article = "an" if kind[0] in "AEIOU" else "a"
    if isinstance(exc, zipfile.BadZipFile) or "zip" in str(exc).lower():
        return f"not {article} {kind} (not a zip archive, or a damaged one)"
    detail = one_line(str(exc))[:120] or type(exc).__name__
    return f"a damaged {kind} ({detail})"
