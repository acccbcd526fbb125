"""Every command's output: text for people, JSON for programs."""

from __future__ import annotations

import json
import shlex
import shutil
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .corpus import display_source
from .records import DOCUMENT_FIELDS, EXTRACTED, AskResult, Hit, paragraphs_text

if TYPE_CHECKING:
    from .build import BuildReport

HIGHLIGHT = ("\033[1;33m", "\033[0m")  # on a terminal: bold yellow
PLAIN_HIGHLIGHT = ("**", "**")  # elsewhere: Markdown bold
DEFAULT_WIDTH = 80  # columns, when the terminal's width is not known (not a terminal)
MIN_WIDTH = 40  # narrower than this, wrapping would only make it worse
QUESTION_LINES = 3  # a longer question is echoed cut to this many lines, ending in "…"
INDENT = "   "


def terminal_width() -> int:
    """The terminal's width ($COLUMNS first); DEFAULT_WIDTH when it is not known."""
    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def ask_json(result: AskResult, corpus: Path) -> dict[str, Any]:
    """`kzqa ask --json`: result.as_dict(), each path as the user opens it from here."""
    if all(hit.source.path for hit in result.hits):
        return result.as_dict()
    hits = [replace(h, source=replace(h.source, path=_path(h, corpus))) for h in result.hits]
    return replace(result, hits=hits).as_dict()


def _path(hit: Hit, corpus: Path) -> str:
    return hit.source.path or display_source(corpus, hit.passage.path)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def ask_text(result: AskResult, corpus: Path, color: bool = False, width: int | None = None) -> str:
    """`kzqa ask` for people, wrapped to `width` columns (default: the terminal's)."""
    on, off = HIGHLIGHT if color else PLAIN_HIGHLIGHT
    width = max(MIN_WIDTH, width or terminal_width())
    lines = _wrap(f"Q: {_cut(result.question, QUESTION_LINES * (width - len(INDENT)))}", width)
    if not result.hits:
        lines += _wrap("No passage in the corpus matches this question.", width, "")
        return "\n".join(lines) + "\n"
    top = result.hits[0]
    if result.about:
        name, value = result.about
        lines += _wrap(
            f"A: {value} (the {DOCUMENT_FIELDS[name]} {_quoted(_path(top, corpus))} states)", width
        )
    elif result.answered:
        lines += _wrap(f"A: {top.answer.text}", width)
    else:
        if result.abstain_reason:
            lines += _wrap(f"Not answered: {result.abstain_reason}.", width, "")
        lines += _wrap(
            "No passage in the corpus answers this confidently. The closest, at "
            f"{_where(top, corpus)}, says:",
            width,
            "",
        )
        lines += _wrap(f"{INDENT}{top.answer.text}", width)
    if result.k and len(result.hits) < result.k:
        n, k = len(result.hits), result.k
        lines += _wrap(
            f"{n} of {k}: the others repeat these"
            if result.repeats
            else f"only {n} passage{'s' if n > 1 else ''} match{'es' if n == 1 else ''}",
            width,
            "",
        )
    lines.append("")
    for rank, hit in enumerate(result.hits, 1):
        p, src = hit.passage, hit.source
        span = f"{p.start_line}" if p.start_line == p.end_line else f"{p.start_line}-{p.end_line}"
        extracted = src.kind in EXTRACTED
        parts = [
            f"{rank}. {_where(hit, corpus)}",
            f"score {hit.score:.3f}",
            f"lines {span}  chars {p.start_char}-{p.end_char}"
            + (" (lines and chars of the extracted text)" if extracted else ""),
        ]
        if paragraphs := hit.paragraphs_text(dash="-"):  # as "lines 3-5" above
            parts.append(paragraphs)
        if not src.verified:
            parts.append("[STALE: the file no longer holds this text]")
        lines += _fill(parts, width)
        title = f'"{src.title}"' if src.title else None
        meta = " · ".join(x for x in (title, src.author, src.published) if x)
        if meta:
            lines += _wrap(f"{INDENT}{meta}", width)
        lines.extend(_highlighted(hit, on, off, width))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cut(text: str, limit: int) -> str:
    """text, or its first `limit` characters (ending at a word) and an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    return (head.rsplit(" ", 1)[0] if " " in head[limit // 2 :] else head).rstrip() + "…"


def _wrap(text: str, width: int, indent: str = INDENT) -> list[str]:
    """text wrapped to width; the lines after the first indented (words are never split, so a
    long path stays whole)."""
    lead = len(text) - len(text.lstrip(" "))
    return textwrap.wrap(
        text[lead:],
        width,
        initial_indent=text[:lead],
        subsequent_indent=indent if indent else text[:lead],
        break_long_words=False,
        break_on_hyphens=False,
    ) or [""]


def _fill(parts: list[str], width: int) -> list[str]:
    """parts joined by two spaces, each kept whole, on as many lines as the width needs."""
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += f"  {part}"
        else:
            lines.append(f"{INDENT}{part}")
    return lines


def _where(hit: Hit, corpus: Path) -> str:
    """The answer sentence's file:line:col (file:line when the column is not known), the form
    editors and terminals open; a PDF's file and page (`file.pdf p. 3`, `pp. 3–4`), the form
    a reader cites. A path with a space is quoted."""
    p, a = hit.passage, hit.answer
    if hit.source.page:
        path = _path(hit, corpus)
        quoted = shlex.quote(path) if any(c.isspace() for c in path) else path
        return f"{quoted} {hit.source.pages_text()}"
    line = a.start_line or p.start_line
    return _quoted(f"{_path(hit, corpus)}:{line}" + (f":{a.start_col}" if a.start_col else ""))


def _quoted(where: str) -> str:
    """A path as a shell takes it: quoted when it holds a space."""
    return shlex.quote(where) if any(c.isspace() for c in where) else where


def _highlighted(hit: Hit, on: str, off: str, width: int) -> list[str]:
    """The passage, wrapped, with the answer sentence marked."""
    p, a = hit.passage, hit.answer
    before = p.text[: a.start_char - p.start_char]
    after = p.text[a.end_char - p.start_char :]
    # Placeholders as wide as the marks are seen (** is; terminal colours take no room) are
    # wrapped with the text, then swapped for the marks.
    seen_on, seen_off = (
        ("\x00" * len(on), "\x01" * len(off)) if not on.startswith("\033") else ("", "")
    )
    words = " ".join(before.split()), " ".join(a.text.split()), " ".join(after.split())
    flat = f"{words[0]} {seen_on}{words[1]}{seen_off} {words[2]}".strip()
    wrapped = _wrap(f"{INDENT}{flat}", width)
    if seen_on:
        return [line.replace(seen_on, on).replace(seen_off, off) for line in wrapped]
    # Colour: mark by position, since the codes have no width to wrap with.
    out, pos = [], 0
    a_start = len(words[0]) + 1 if words[0] else 0
    a_end = a_start + len(words[1])
    for line in wrapped:
        body = line[len(INDENT) :]
        at = flat.index(body, pos)
        pos = at + len(body)
        s, e = max(a_start, at) - at, min(a_end, pos) - at
        if s < e:
            body = body[:s] + on + body[s:e] + off + body[e:]
        out.append(INDENT + body)
    return out


def read_text(span: dict[str, Any], color: bool = False) -> str:
    """`kzqa read` for people, from read_span()'s dict (which `--json` prints): where, then
    the text, marked inside its context when there is any."""
    on, off = HIGHLIGHT if color else PLAIN_HIGHLIGHT
    lines = f"{span['start_line']}" + (
        f"-{span['end_line']}" if span["end_line"] != span["start_line"] else ""
    )
    head = f"{span['source']}:{lines}  chars {span['start_char']}-{span['end_char']}"
    if span.get("page"):  # a PDF: the pages, as a reader cites them
        page, end = span["page"], span["end_page"]
        head += f"  p. {page}" if page == end else f"  pp. {page}–{end}"
    if span.get("paragraph"):  # Word, OpenDocument: the paragraphs, as `kzqa ask` shows them
        head += "  " + paragraphs_text(span["paragraph"], span["end_paragraph"], dash="-")
    if not span["verified"]:
        head += "  [CHANGED: the file is no longer what the index read; run `kzqa index`]"
    body = span["text"]
    if span["before"] or span["after"]:
        body = f"{span['before']}{on}{body}{off}{span['after']}"
    return f"{head}\n{body}" + ("" if body.endswith("\n") else "\n")


def status_text(info: dict[str, Any]) -> str:
    """`kzqa status` for people, from index_status()'s dict (which `--json` prints)."""
    if not info["indexed"]:
        return f"no index in {info['index']} yet. Next: run `kzqa index`\n"
    lines = [
        f"index:     {info['index']} (built {info['built_at']})",
        f"corpus:    {info['corpus']}",
        f"documents: {info['documents']}, passages: {info['passages']}",
        f"model:     {info['model']} ({info['dimension']} dimensions), "
        f"search: {info['index_type']['kind']}",
    ]
    if info.get("damaged"):
        lines.append(f"damaged:   {info['damaged']}. Next: run `kzqa index --full`")
    changes = info["changes"]
    if changes is None:
        lines.append("changes:   corpus folder missing")
    elif any(changes.values()):
        parts = ", ".join(f"{len(v)} {name}" for name, v in changes.items() if v)
        lines.append(f"changes:   the corpus changed since ({parts}). Next: run `kzqa index`")
    elif not info.get("damaged"):
        lines.append("changes:   none; the index is up to date")
    return "\n".join(lines) + "\n"


def eval_text(report: dict[str, Any], k: int = 10) -> str:
    """`kzqa eval` for people, from run_eval()'s dict (which `--json` prints)."""
    lines = [
        f"{report['dataset']}: {report['queries']} queries, mode {report['mode']}, "
        f"{report['seconds']:.1f} s ({report['ms_per_query']:.1f} ms/query)"
    ]
    rows = [("ndcg@10", "nDCG@10"), ("recall@10", "Recall@10"), ("recall@100", "Recall@100")]
    rows.append(("mrr@10", "MRR@10"))
    if k not in (10, 100):
        rows += [(f"ndcg@{k}", f"nDCG@{k}"), (f"recall@{k}", f"Recall@{k}")]
    lines += [f"  {label:<11} {report[key]:.4f}" for key, label in rows]
    if "answer@1" in report:
        value = report["answer@1"]
        shown = "n/a" if value is None else f"{value:.4f}"
        lines.append(
            f"  {'answer@1':<11} {shown}  (of {report['answer_queries']} queries "
            "whose top passage is relevant)"
        )
    lines.append(f"index: {report['index']}")
    return "\n".join(lines) + "\n"


def index_text(report: BuildReport, names: int = 3) -> str:
    """`kzqa index` for people: one line, naming up to `names` files of each kind of change."""
    renamed = [f"{old} -> {new}" for old, new in report.renamed]
    kinds = [
        ("added", report.added),
        ("changed", report.changed),
        ("removed", report.removed),
        ("renamed", renamed),
    ]
    parts = [f"{len(files)} {kind}" + _named(files, names) for kind, files in kinds if files]
    parts.append(f"{len(report.unchanged)} unchanged")
    why = f"; full rebuild: {report.rebuilt}" if report.rebuilt else ""
    if report.settings_changed:
        why = f"; {report.settings_changed}: index files written again from the stored vectors"
    return (
        f"indexed {report.documents} documents, {report.passages_total} passages: "
        f"{', '.join(parts)}; "
        f"embedded {report.passages_embedded} passages in {report.seconds:.1f}s{why}"
    )


def _named(files: list[str], names: int) -> str:
    """(a.txt, b.txt and 3 more)"""
    if not files:
        return ""
    shown = ", ".join(files[:names])
    rest = len(files) - names
    return f" ({shown}" + (f" and {rest} more" if rest > 0 else "") + ")"
