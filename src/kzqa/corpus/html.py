"""A saved web page -> its article's text (trafilatura), title, date and author; a page that is
not an article (too little main text) -> all its visible text, one paragraph per block element."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from typing import Any

from .blocks import CELL, Extracted, join_blocks, one_line
from .metadata import parse_date

# An article's main text is at least this long; shorter (a list of links, an index page, a
# page of a few lines, where trafilatura only guesses), the page's visible text is read whole.
MIN_MAIN_CHARS = 200

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
# Inside <pre>, line breaks, spaces and tabs stand in as these while paragraphs are collapsed.
_PRE = str.maketrans({"\n": "\x03", " ": "\x04", "\t": "\x05"})
_UNPRE = str.maketrans({"\x03": "\n", "\x04": " ", "\x05": "\t"})


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
        self.pre = 0
        self.cells = 0  # cells opened so far in the current table row

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
        if tag == "pre":
            self.pre += 1
        elif tag == "tr":
            self.cells = 0
        elif tag in ("td", "th"):
            if self.cells:
                self.parts.append(CELL)
            self.cells += 1
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
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._buffer.append(data)
        if not self.hidden and not self.in_head:
            data = data.replace(_HEADING_MARK, "")
            self.parts.append(data.translate(_PRE) if self.pre else re.sub(r"\s+", " ", data))


def extract_html(html: str) -> tuple[str, str | None, str | None]:
    """A page's text (its article's, or all that is visible), title and date."""
    page = read_html(html)
    return page.text, page.title, page.published


def read_html(html: str) -> Extracted:
    """The article's main text when there is one (nav, menus, share buttons, related links,
    cookie notices and comments dropped), else the visible text; metadata from both."""
    visible = visible_text(html)
    found = _article(html)
    if found is None:
        return visible
    body, title, published, author = found
    text, headings = join_blocks(_blocks(body, _pre_texts(html)))
    if len(text.strip()) < MIN_MAIN_CHARS:  # not an article: the page as it shows itself
        return Extracted(visible.text, visible.title, visible.published, author, visible.headings)
    return Extracted(
        text,
        title or visible.title,
        parse_date(published or "") or visible.published,
        author,
        headings,
    )


def _article(html: str) -> tuple[Any, str | None, str | None, str | None] | None:
    import trafilatura

    for name in ("trafilatura", "htmldate", "courlan"):  # its notes are not the user's warnings
        logging.getLogger(name).setLevel(logging.ERROR)
    found = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_formatting=True,
        # A date the page states, never one guessed from its text or links.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if found is None or isinstance(found, dict) or found.body is None:
        return None
    return found.body, found.title, found.date, found.author


def _blocks(body: Any, pre: set[str]) -> list[tuple[str, bool]]:
    """trafilatura's output tree -> (text, is_heading) blocks: a table row's cells joined by
    CELL, a list's items one block each, preformatted text with its whitespace kept."""
    blocks: list[tuple[str, bool]] = []
    for element in body:
        tag = element.tag
        if tag == "table":
            for row in element.iter("row"):
                cells = [one_line("".join(cell.itertext())) for cell in row.iter("cell")]
                blocks.append((CELL.join(c for c in cells if c), False))
        elif tag == "list":
            blocks += [(_inline(item), False) for item in element.iter("item")]
        elif tag in ("quote", "code") and one_line("".join(element.itertext())) in pre:
            lines = "".join(element.itertext()).strip("\n").splitlines()
            blocks.append(("\n".join(line.rstrip() for line in lines), False))
        else:
            blocks.append((_inline(element), tag == "head"))
    return blocks


def _inline(element: Any) -> str:
    """An element's text, a line break (<lb/>) kept as one, other whitespace made one space."""
    text = "".join(_pieces(element)).split("\n")
    return "\n".join(line for line in map(one_line, text) if line)


def _pieces(element: Any) -> list[str]:
    parts = [re.sub(r"\s+", " ", element.text or "")]
    for child in element:
        parts += ["\n"] if child.tag == "lb" else _pieces(child)
        parts.append(re.sub(r"\s+", " ", child.tail or ""))
    return parts


def _pre_texts(html: str) -> set[str]:
    """The page's <pre> blocks, whitespace collapsed: trafilatura keeps their text but not what
    they were, and their whitespace is kept only for them."""
    if "<pre" not in html.lower():
        return set()
    found = re.findall(r"<pre\b[^>]*>(.*?)</pre\s*>", html, re.I | re.S)
    return {one_line(visible_text(f"<pre>{body}</pre>").text) for body in found}


def visible_text(html: str) -> Extracted:
    """All the visible text of a page, one paragraph per block element, plus title and date."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    joined = "".join(parser.parts)
    blocks = []
    for p in re.split(r"\n\s*\n", joined):
        heading = p.lstrip().startswith(_HEADING_MARK)
        p = " ".join(p.replace(_HEADING_MARK, " ").split()).translate(_UNPRE)
        if "\n" in p:  # <pre>: its lines as they are, without trailing spaces
            p = "\n".join(line.rstrip() for line in p.strip("\n").splitlines())
        blocks.append((p, heading))
    text, headings = join_blocks(blocks)
    return Extracted(text, parser.title or parser.h1, parser.published, None, headings)
