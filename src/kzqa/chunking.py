"""Documents -> passages: paragraph- and sentence-aware, never splitting a sentence that
fits the model's window (a longer one is cut between words)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .corpus.metadata import front_matter_end
from .records import Document, Passage, text_hash

CHUNKER_VERSION = 4  # bump when passage boundaries change: it is part of the index fingerprint
SPECIAL_TOKENS = 2  # [CLS] and [SEP] take two places of the model's window

TokenCounter = Callable[[Sequence[str]], list[int]]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n")
# A sentence ends at . ! ? (or CJK 。！？), then optional closing quotes/brackets, then space
# (or, for CJK, directly) before the next sentence.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|[。！？]+[\"'”’)\]」』]*")
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "mt",
    "no",
    "nos",
    "vs",
    "etc",
    "al",
    "fig",
    "figs",
    "eq",
    "ref",
    "refs",
    "vol",
    "pp",
    "p",
    "inc",
    "ltd",
    "co",
    "corp",
    "dept",
    "gen",
    "gov",
    "approx",
    "est",
    "e.g",
    "i.e",
    "cf",
    "ca",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "u.n",
    "ph.d",
    "a.m",
    "p.m",
}
MAX_HEADLINE = 120  # longer unpunctuated lines are wrapped prose, not headings
WRAP_MIN, WRAP_SLACK = 50, 25  # lines at least this wide, within this much of each other: wrapped
_MARKDOWN_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")  # an ATX heading: `## Climate`


@dataclass(frozen=True)
class ChunkSettings:
    max_tokens: int = 256  # the model's window, special tokens included
    pack_tokens: int = 128  # longer paragraphs are cut (between sentences) into pieces this big
    min_tokens: int = 24  # a paragraph shorter than this is packed with its neighbour


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (absolute offsets, whitespace trimmed) of text[start:end]."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cut = start
    for m in _SENTENCE_END.finditer(text, start, end):
        stop = m.end()
        if stop >= end:
            break
        if m.group().startswith(".") and _is_abbreviation(text, m.start(), cut):
            continue
        following = text[stop:end].lstrip()
        if following and following[0].islower() and not _is_cjk(m.group()):
            continue  # "e.g. the ..." or a decimal-free lowercase run: not a new sentence
        spans.append((cut, stop))
        cut = stop
    spans.append((cut, end))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        out.extend(_split_lines(text, s, e))
    return [span for span in (_trim(text, s, e) for s, e in out) if span[0] < span[1]]


def _is_cjk(mark: str) -> bool:
    return mark[:1] in "。！？"


def _is_abbreviation(text: str, dot: int, floor: int) -> bool:
    word_start = dot
    while word_start > floor and not text[word_start - 1].isspace() and text[word_start - 1] != "(":
        word_start -= 1
    word = text[word_start:dot].lower()
    if word in _ABBREVIATIONS:
        return True
    # Initials ("J. Smith") and dotted acronyms ("U.S.") are not sentence ends.
    return (
        len(word) == 1
        and word.isalpha()
        or (word.count(".") >= 1 and all(len(part) <= 1 for part in word.split(".")))
    )


def _split_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Break after headline-like lines (headers, captions, list items) inside a span.

    Hard-wrapped prose (lines of about equal width) is left alone: its line ends are not
    sentence ends.
    """
    lines = text[start:end].split("\n")
    if len(lines) < 2 or _hard_wrapped(lines):
        return [(start, end)]
    spans = []
    cut = pos = start
    for line, nxt in zip(lines, lines[1:], strict=False):
        pos += len(line) + 1
        head, follow = line.strip(), nxt.lstrip()
        if (
            head
            and follow
            and len(head) <= MAX_HEADLINE
            and not head.endswith((",", ";", ":", "-", "("))
            and (follow[0].isupper() or follow[0].isdigit() or follow[0] in "\"'“‘(")
        ):
            spans.append((cut, pos - 1))
            cut = pos
    spans.append((cut, end))
    return spans


def _hard_wrapped(lines: list[str]) -> bool:
    widths = [len(line) for line in lines[:-1]]
    return len(widths) >= 2 and min(widths) >= WRAP_MIN and max(widths) - min(widths) <= WRAP_SLACK


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraphs(text: str, start: int = 0) -> list[tuple[int, int]]:
    spans = []
    cut = start
    for m in _PARAGRAPH_BREAK.finditer(text, start):
        spans.append(_trim(text, cut, m.start()))
        cut = m.end()
    spans.append(_trim(text, cut, len(text)))
    return [s for s in spans if s[0] < s[1]]


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    sentences: list[tuple[int, int]]
    whole: bool  # a whole paragraph (not a piece of a cut one)
    alone: bool = False  # a repeated paragraph: always its own passage
    heading: bool = False  # only headings so far: the text below joins it, not the text above


def chunk_document(
    doc: Document, count_tokens: TokenCounter, settings: ChunkSettings = ChunkSettings()
) -> list[Passage]:
    """Cut a document into passages of whole sentences that fit the model's window."""
    text = doc.text
    body = front_matter_end(text) if doc.kind == "markdown" else 0
    paras = paragraphs(text, body)
    headings = set(doc.headings)
    if doc.kind == "markdown":
        headings.update(s for s, _ in paras if _MARKDOWN_HEADING.match(text, s))
    para_sentences = [split_sentences(text, s, e) for s, e in paras]
    flat = [span for spans in para_sentences for span in spans]
    counts = count_tokens([text[s:e] for s, e in flat])
    window = settings.max_tokens - SPECIAL_TOKENS
    if any(n > window for n in counts):  # rare: a "sentence" with no end in sight
        para_sentences = [
            [piece for span in spans for piece in _fit(text, span, window, count_tokens)]
            for spans in para_sentences
        ]
        flat = [span for spans in para_sentences for span in spans]
        counts = count_tokens([text[s:e] for s, e in flat])
    budget = settings.pack_tokens
    units: list[_Unit] = []
    seen: set[str] = set()
    i = 0
    for (p_start, p_end), spans in zip(paras, para_sentences, strict=True):
        tokens = counts[i : i + len(spans)]
        i += len(spans)
        body_text = text[p_start:p_end]
        repeated = body_text in seen
        seen.add(body_text)
        if p_start in headings and not repeated:
            units.append(_Unit(p_start, p_end, sum(tokens), spans, whole=True, heading=True))
            continue
        if sum(tokens) <= budget:
            # A repeated paragraph (a caption printed twice) stands alone, so the two
            # copies make identical passages that retrieval can fold into one.
            units.append(_Unit(p_start, p_end, sum(tokens), spans, whole=True, alone=repeated))
            continue
        group: list[tuple[int, int]] = []
        size = 0
        for span, n in zip(spans, tokens, strict=True):
            if group and size + n > budget:
                units.append(_Unit(group[0][0], group[-1][1], size, group, whole=False))
                group, size = [], 0
            group.append(span)
            size += n
        units.append(_Unit(group[0][0], group[-1][1], size, group, whole=False))

    packed: list[_Unit] = []
    for unit in units:
        last = packed[-1] if packed else None
        if last is not None and _joins(last, unit, settings):
            last.end, last.tokens = unit.end, last.tokens + unit.tokens
            last.sentences = last.sentences + unit.sentences
            last.whole = last.whole and unit.whole
            last.heading = last.heading and unit.heading
        else:
            packed.append(
                _Unit(
                    unit.start,
                    unit.end,
                    unit.tokens,
                    list(unit.sentences),
                    unit.whole,
                    unit.alone,
                    unit.heading,
                )
            )
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    return [make_passage(doc.path, text, u.start, u.end, u.sentences, line_starts) for u in packed]


def _fit(
    text: str, span: tuple[int, int], window: int, count_tokens: TokenCounter
) -> list[tuple[int, int]]:
    """A sentence as pieces of whole words that each fit the window (itself if it fits).

    Words are counted one by one, which is how a word-piece tokenizer splits them anyway.
    A single word longer than the window stays whole: the model reads its start.
    """
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[span[0] : span[1]])]
    sizes = count_tokens([text[span[0] + s : span[0] + e] for s, e in words])
    if sum(sizes) <= window:
        return [span]
    pieces: list[tuple[int, int]] = []
    first, size = 0, 0
    for i, n in enumerate(sizes):
        if i > first and size + n > window:
            pieces.append((span[0] + words[first][0], span[0] + words[i - 1][1]))
            first, size = i, 0
        size += n
    pieces.append((span[0] + words[first][0], span[0] + words[-1][1]))
    return pieces


def _joins(last: _Unit, unit: _Unit, settings: ChunkSettings) -> bool:
    """Whether two neighbouring units share a passage: only when one is a short paragraph.

    Whole paragraphs pack up to pack_tokens. A short one (a heading, a caption) next to a
    piece of a cut paragraph joins it as long as the model's window holds both, so a title
    never stands alone above the text it heads. A heading starts a passage (never ends one)
    and whatever follows it joins it while the window holds both.
    """
    if last.alone or unit.alone:
        return False
    window = settings.max_tokens - SPECIAL_TOKENS
    if unit.heading and not last.heading:
        return False
    if last.heading:
        return last.tokens + unit.tokens <= window
    short = any(u.whole and u.tokens < settings.min_tokens for u in (last, unit))
    whole = last.whole and unit.whole
    limit = settings.pack_tokens if whole else window
    return short and last.tokens + unit.tokens <= limit


def make_passage(
    path: str,
    text: str,
    start: int,
    end: int,
    sentences: Sequence[tuple[int, int]],
    line_starts: list[int],
) -> Passage:
    body = text[start:end]
    return Passage(
        path=path,
        start_char=start,
        end_char=end,
        start_line=bisect.bisect_right(line_starts, start),
        end_line=bisect.bisect_right(line_starts, max(start, end - 1)),
        text=body,
        sentences=tuple(sentences),
        hash=text_hash(body),
    )
