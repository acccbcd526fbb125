"""The records that flow through kzqa: documents, passages, hits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Kinds whose offsets count in the text kzqa extracted, not in the file's decoded bytes.
EXTRACTED = frozenset({"html", "docx", "odt", "pdf"})
# Kinds extracted one block (paragraph, heading, table row) per line, a blank line between
# blocks: block n is line 2n - 1, and a citation names its paragraph range.
BLOCKS = frozenset({"docx", "odt"})


def offsets_of(kind: str) -> str:
    """What a citation's character offsets count in (its "offsets" in --json)."""
    return "extracted_text" if kind in EXTRACTED else "file_text"


def paragraph_of(line: int) -> int:
    """The block (1-based) a line of a BLOCKS kind's extracted text belongs to."""
    return (line + 1) // 2


def paragraph_range(kind: str, start_line: int, end_line: int) -> tuple[int, int] | None:
    """The first and last paragraph (1-based) of a span of a Word or OpenDocument file's
    extracted text, given its lines; None for other kinds."""
    if kind not in BLOCKS:
        return None
    return paragraph_of(start_line), paragraph_of(end_line)


def paragraphs_text(first: int, last: int, dash: str = "–") -> str:
    """ "paragraph 3" or "paragraphs 3–4"."""
    return f"paragraph {first}" if first == last else f"paragraphs {first}{dash}{last}"


@dataclass(frozen=True)
class Document:
    """One corpus file, read into the text that offsets refer to."""

    path: str  # relative to the corpus folder, with forward slashes
    text: str  # file text (for HTML, Word, OpenDocument and PDF: the extracted text)
    kind: str  # "text", "markdown", "html", "docx", "odt" or "pdf"
    title: str | None = None
    published: str | None = None  # ISO date, only when the file states one
    sha256: str = ""
    size: int = 0
    mtime_ns: int = 0
    # Where each heading paragraph starts in text (HTML <h1>-<h6>; Markdown's are read from
    # its `#` lines): the chunker keeps a heading with the text below it.
    headings: tuple[int, ...] = ()
    author: str | None = None  # only when the file states one (page or document metadata)
    # PDF: where each physical page starts in text (page 1 at pages[0]), and each page's
    # printed label ("iv", "12") when the PDF has labels.
    pages: tuple[int, ...] = ()
    page_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Passage:
    """A span of one document that is embedded and retrieved as a unit."""

    path: str
    start_char: int  # offsets into Document.text: text[start_char:end_char] == self.text
    end_char: int
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str
    sentences: tuple[tuple[int, int], ...] = ()  # absolute (start, end) of each sentence
    hash: str = ""  # sha256 of text: vectors are reused by it

    def sentence_spans(self) -> list[tuple[int, int]]:
        """Absolute (start, end) of each sentence; the whole passage if it has none."""
        return list(self.sentences) or [(self.start_char, self.end_char)]

    def relative_spans(self) -> list[tuple[int, int]]:
        """The sentence spans as offsets into self.text."""
        return [(s - self.start_char, e - self.start_char) for s, e in self.sentence_spans()]


@dataclass(frozen=True)
class Answer:
    text: str
    start_char: int
    end_char: int
    # Where the sentence lies in the file's text (1-based; 0: not known): what `file:line:col`
    # shows. For HTML, lines of the extracted text.
    start_line: int = 0
    start_col: int = 0
    end_line: int = 0


@dataclass(frozen=True)
class Source:
    """What the index knows about the cited file."""

    title: str | None
    published: str | None
    kind: str  # Document.kind (offsets_of(kind): what the offsets count in)
    verified: bool  # the file still holds the passage at its span (search.cite.SpanChecker)
    # The file as the user would open it: corpus/… when the corpus is under the working
    # directory, otherwise absolute ("": not known; Hit.path then falls back).
    path: str = ""
    author: str | None = None  # when the document states one
    # PDF: the physical pages (1-based) the passage starts and ends on (0: not a PDF), and
    # their printed labels when the PDF has them ("xii"; None otherwise).
    page: int = 0
    end_page: int = 0
    page_label: str | None = None
    end_page_label: str | None = None

    def pages_text(self) -> str:
        """ "p. 3" or "pp. 3–4" (printed labels when the PDF has them); "" when not a PDF."""
        if not self.page:
            return ""
        first = self.page_label or str(self.page)
        last = self.end_page_label or str(self.end_page)
        return f"p. {first}" if self.end_page == self.page else f"pp. {first}–{last}"


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its score and the sentence that best answers."""

    passage: Passage
    score: float
    answer: Answer
    source: Source
    scores: dict[str, float] = field(default_factory=dict)  # per-retriever evidence

    @property
    def path(self) -> str:
        """The cited file as the user would open it (a citation's `source`)."""
        return self.source.path or self.passage.path

    def paragraphs(self) -> tuple[int, int] | None:
        """The first and last paragraph (1-based) of a Word or OpenDocument passage; None for
        other kinds."""
        p = self.passage
        return paragraph_range(self.source.kind, p.start_line, p.end_line)

    def paragraphs_text(self, dash: str = "–") -> str:
        """ "paragraph 3" or "paragraphs 3–4"; "" for other kinds."""
        paragraphs = self.paragraphs()
        return "" if paragraphs is None else paragraphs_text(*paragraphs, dash=dash)

    def as_dict(self, rank: int) -> dict[str, Any]:
        """One result of `kzqa ask --json`."""
        p, src, a = self.passage, self.source, self.answer
        citation: dict[str, Any] = {
            "source": self.path,
            "title": src.title,
            "published": src.published,
            "author": src.author,
            "start_line": p.start_line,
            "end_line": p.end_line,
            "start_char": p.start_char,
            "end_char": p.end_char,
            "verified": src.verified,
            # HTML, Word, OpenDocument and PDF are cited in their extracted text, not their bytes.
            "offsets": offsets_of(src.kind),
        }
        if (paragraphs := self.paragraphs()) is not None:
            citation["paragraph"], citation["end_paragraph"] = paragraphs
        citation |= self._pages()
        return {
            "rank": rank,
            "score": self.score,
            "text": p.text,
            "answer": {
                "text": a.text,
                "start_char": a.start_char,
                "end_char": a.end_char,
                "start_line": a.start_line or p.start_line,
                "end_line": a.end_line or p.end_line,
            },
            "citation": citation,
            "scores": self.scores,
        }

    def _pages(self) -> dict[str, Any]:
        """A PDF citation's pages: physical (1-based), and printed labels when it has them."""
        src = self.source
        if not src.page:
            return {}
        out: dict[str, Any] = {"page": src.page, "end_page": src.end_page}
        if src.page_label is not None:
            out |= {"page_label": src.page_label, "end_page_label": src.end_page_label}
        return out


# The metadata fields a question about a document itself may ask for, in words.
DOCUMENT_FIELDS = {"published": "date", "author": "author", "title": "title"}


@dataclass(frozen=True)
class AskResult:
    question: str
    answered: bool
    hits: list[Hit]
    abstain_reason: str | None = None  # why answered is false, in words for the asker
    k: int = 0  # passages asked for (0: not said)
    repeats: int = 0  # passages left out because they repeat one shown (same text or answer)
    notes: tuple[str, ...] = ()  # what the user should know about how it was read
    # A question about the top hit's document itself, answered from its metadata:
    # (field, value), e.g. ("published", "2025-12-04").
    about: tuple[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """What `kzqa ask --json` prints (README: "JSON output of `kzqa ask --json`")."""
        out: dict[str, Any] = {
            "question": self.question,
            "answered": self.answered,
            "abstain_reason": self.abstain_reason,
            "results": [hit.as_dict(rank) for rank, hit in enumerate(self.hits, 1)],
        }
        if self.k and len(self.hits) < self.k:
            out["fewer"] = {"asked": self.k, "repeats": self.repeats}
        if self.notes:
            out["notes"] = list(self.notes)
        if self.about and self.hits:
            name, value = self.about
            out["about_document"] = {"field": name, "value": value, "source": self.hits[0].path}
        return out


Ranked = list[tuple[int, float]]  # (passage row, score), best first


def best_first(pairs: Iterable[tuple[int, float]]) -> Ranked:
    """Highest score first; ties broken by row, so every ranking is deterministic. (Sorted
    as (-score, row) tuples, compared in C: a server ranks a few hundred pairs per answer.)"""
    order = sorted([(-score, row) for row, score in pairs])
    return [(row, -negated) for negated, row in order]


def text_hash(text: str) -> str:
    """A passage's hash (Passage.hash): vectors are reused by it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
