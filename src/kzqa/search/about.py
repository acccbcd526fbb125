"""Questions about a document itself ("When was the article published?", "Who wrote it?"):
answered from the cited document's metadata, which no passage's meaning holds."""

from __future__ import annotations

import re

from ..records import Source

# What the asker calls the document, after up to three words that say which ("the water
# report", "the falcon festival article").
_NOUNS = (
    "article|document|story|report|paper|piece|page|post|text|book|essay|note|memo|letter|"
    "file|study|release|column|review|interview|statement|announcement|brief|summary"
)
_DOCUMENT = rf"(?:(?:[\w-]+ ){{0,3}}(?:{_NOUNS})s?\b|it\b|this\b)"
# field -> questions that ask for it (matched case-insensitively against the whole question).
# Each needs a word that only asks about a document ("published", "author", "title of the
# …"): "When was the workshop opened?" asks about the world, not about the article.
PATTERNS: dict[str, tuple[str, ...]] = {
    "published": (
        r"\b(?:when|what (?:date|day|year)|which (?:date|day|year))\b.*\b(?:published|"
        r"written|released|posted|dated|come out|came out|appear(?:ed)?)\b",
        r"\b(?:publication|release|posting) date\b",
        rf"\b(?:date|day|year) (?:of|on) (?:the|this) {_DOCUMENT}",
        rf"\bhow old is (?:the|this) {_DOCUMENT}",
    ),
    "author": (
        rf"\bwho (?:wrote|has written|authored|penned) (?:the |this |that )?{_DOCUMENT}",
        rf"\b(?:author|writer)s? of (?:the|this|that) {_DOCUMENT}",
        r"\bbyline\b",
    ),
    "title": (
        rf"\b(?:title|headline|name) of (?:the|this) {_DOCUMENT}",
        rf"\bwhat is (?:the|this) {_DOCUMENT} (?:called|titled|named)\b",
        r"\bwhat(?:'s| is) (?:the|its) (?:title|headline)\b",
    ),
}


def document_field(question: str) -> str | None:
    """The metadata field a question asks for, if it asks about a document itself."""
    for name, patterns in PATTERNS.items():
        if any(re.search(p, question, re.IGNORECASE) for p in patterns):
            return name
    return None


def metadata_value(source: Source, name: str) -> str | None:
    """The cited document's value of a metadata field (None: the document states none)."""
    return {"published": source.published, "author": source.author, "title": source.title}[name]
