"""What a document says of itself: title and publication date (plain text and Markdown)."""

from __future__ import annotations

import datetime
import re
from typing import Any

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
        meta = front_matter(m[1])
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


def front_matter(block: str) -> Any:
    """The YAML of a front-matter block, or None when it is not YAML kzqa reads.

    Anchors and aliases are refused: a few lines of nested aliases (a "billion laughs")
    expand into billions of values and would hang the build. Front matter never needs them.
    """
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError("aliases are not read in front matter")
            return super().compose_node(parent, index)

    try:
        return yaml.load(block, Loader=NoAliases)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return None


def front_matter_end(text: str) -> int:
    """Offset where a Markdown file's body starts (after YAML front matter, if any)."""
    m = _FRONT_MATTER.match(text)
    return m.end() if m else 0
