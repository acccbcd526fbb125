"""HTML -> its visible text (one paragraph per block element), title and date."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from .metadata import parse_date

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
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_HEADING_MARK = "\x02"  # opens a heading's paragraph while the text is joined; then removed


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
        if tag in _HEADINGS and not self.hidden and not self.in_head:
            self.parts.append(_HEADING_MARK)

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
            self.parts.append(re.sub(r"\s+", " ", data.replace(_HEADING_MARK, "")))


def extract_html(html: str) -> tuple[str, str | None, str | None]:
    """Visible text of an HTML page, one paragraph per block element, plus title and date."""
    text, title, published, _ = extract_page(html)
    return text, title, published


def extract_page(html: str) -> tuple[str, str | None, str | None, tuple[int, ...]]:
    """extract_html(), plus where each heading's paragraph starts in the text."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    joined = "".join(parser.parts)
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", joined)]
    out: list[str] = []
    headings: list[int] = []
    at = 0
    for p in paragraphs:
        heading = p.startswith(_HEADING_MARK)
        p = " ".join(p.replace(_HEADING_MARK, " ").split())
        if not p:
            continue
        if heading:
            headings.append(at)
        out.append(p)
        at += len(p) + 2
    return "\n\n".join(out) + "\n", parser.title or parser.h1, parser.published, tuple(headings)
