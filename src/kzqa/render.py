"""Every command's output: text for people, JSON for programs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .corpus import display_source
from .records import AskResult, Hit

if TYPE_CHECKING:
    from .build import BuildReport

HIGHLIGHT = ("\033[1;33m", "\033[0m")  # on a terminal: bold yellow
PLAIN_HIGHLIGHT = ("**", "**")  # elsewhere: Markdown bold
WIDTH = 100
INDENT = "   "


def ask_json(result: AskResult, corpus: Path) -> dict[str, Any]:
    return {
        "question": result.question,
        "answered": result.answered,
        "abstain_reason": result.abstain_reason,
        "results": [hit_json(rank, hit, corpus) for rank, hit in enumerate(result.hits, 1)],
    }


def hit_json(rank: int, hit: Hit, corpus: Path) -> dict[str, Any]:
    p, src = hit.passage, hit.source
    return {
        "rank": rank,
        "score": hit.score,
        "text": p.text,
        "answer": {
            "text": hit.answer.text,
            "start_char": hit.answer.start_char,
            "end_char": hit.answer.end_char,
        },
        "citation": {
            "source": display_source(corpus, p.path),
            "title": src.title,
            "published": src.published,
            "start_line": p.start_line,
            "end_line": p.end_line,
            "start_char": p.start_char,
            "end_char": p.end_char,
            "verified": src.verified,
            # HTML is cited in its extracted visible text, not in the raw markup.
            "offsets": "extracted_text" if src.kind == "html" else "file_text",
        },
        "scores": hit.scores,
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def ask_text(result: AskResult, corpus: Path, color: bool = False) -> str:
    on, off = HIGHLIGHT if color else PLAIN_HIGHLIGHT
    lines = [f"Q: {result.question}"]
    if not result.hits:
        lines.append("No passage in the corpus matches this question.")
        return "\n".join(lines)
    top = result.hits[0]
    if result.answered:
        lines.append(f"A: {top.answer.text}")
    else:
        if result.abstain_reason:
            lines.append(f"Not answered: {result.abstain_reason}.")
        lines.append(
            "No passage in the corpus answers this confidently; the closest was "
            f"{_where(top, corpus)}:"
        )
        lines.append(f"   {top.answer.text}")
    lines.append("")
    for rank, hit in enumerate(result.hits, 1):
        p, src = hit.passage, hit.source
        meta = " · ".join(x for x in (f'"{src.title}"' if src.title else None, src.published) if x)
        lines.append(
            f"{rank}. {_where(hit, corpus)}  score {hit.score:.3f}"
            f"  chars {p.start_char}-{p.end_char}"
            + ("" if src.verified else "  [STALE: the file no longer holds this text]")
        )
        if meta:
            lines.append(f"{INDENT}{meta}")
        lines.extend(_highlighted(hit, on, off))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _where(hit: Hit, corpus: Path) -> str:
    p = hit.passage
    lines = f"{p.start_line}" if p.start_line == p.end_line else f"{p.start_line}-{p.end_line}"
    return f"{display_source(corpus, p.path)}:{lines}"


def _highlighted(hit: Hit, on: str, off: str) -> list[str]:
    """The passage, wrapped, with the answer sentence marked."""
    p, a = hit.passage, hit.answer
    before = p.text[: a.start_char - p.start_char]
    after = p.text[a.end_char - p.start_char :]
    marker_on, marker_off = "\x00", "\x01"  # placeholders survive wrapping; swapped after
    flat = " ".join(f"{before}{marker_on}{a.text}{marker_off}{after}".split())
    wrapped = textwrap.wrap(flat, WIDTH - len(INDENT), break_on_hyphens=False)
    return [INDENT + line.replace(marker_on, on).replace(marker_off, off) for line in wrapped]


def read_text(span: dict[str, Any], color: bool = False) -> str:
    """`kzqa read` for people, from read_span()'s dict (which `--json` prints): where, then
    the text, marked inside its context when there is any."""
    on, off = HIGHLIGHT if color else PLAIN_HIGHLIGHT
    lines = f"{span['start_line']}" + (
        f"-{span['end_line']}" if span["end_line"] != span["start_line"] else ""
    )
    head = f"{span['source']}:{lines}  chars {span['start_char']}-{span['end_char']}"
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
    changes = info["changes"]
    if changes is None:
        lines.append("changes:   corpus folder missing")
    elif any(changes.values()):
        parts = ", ".join(f"{len(v)} {name}" for name, v in changes.items() if v)
        lines.append(f"changes:   the corpus changed since ({parts}). Next: run `kzqa index`")
    else:
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


def index_text(report: BuildReport) -> str:
    """`kzqa index` for people: one line."""
    moved = f", {len(report.renamed)} renamed" if report.renamed else ""
    why = f"; full rebuild: {report.rebuilt}" if report.rebuilt else ""
    return (
        f"indexed {report.documents} documents, {report.passages_total} passages: "
        f"{len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged{moved}; "
        f"embedded {report.passages_embedded} passages in {report.seconds:.1f}s{why}"
    )
