"""What a reader extracts from a document that is not plain text, and how its blocks are joined."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CELL = " | "  # between a table row's cells: "Almaty | 3", never "Almaty3"


class Unreadable(Exception):
    """A file kzqa reads but could not: the message says why, in a few words."""


@dataclass(frozen=True)
class Extracted:
    """A document's text as kzqa cites it, and what the document says of itself."""

    text: str
    title: str | None = None
    published: str | None = None  # ISO date
    author: str | None = None
    headings: tuple[int, ...] = ()  # where each heading's block starts in text


def join_blocks(blocks: Iterable[tuple[str, bool]]) -> tuple[str, tuple[int, ...]]:
    """(text, is_heading) blocks -> one text, a blank line between blocks (the chunker's
    paragraphs), and where each heading starts. Empty blocks are dropped."""
    out: list[str] = []
    headings: list[int] = []
    at = 0
    for text, heading in blocks:
        if not text.strip():
            continue
        if heading:
            headings.append(at)
        out.append(text)
        at += len(text) + 2
    return "\n\n".join(out) + "\n", tuple(headings)


def one_line(text: str) -> str:
    """text with every run of whitespace (line breaks too) made one space."""
    return " ".join(text.split())
