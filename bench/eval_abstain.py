"""Calibrate abstention: questions about a corpus vs questions it cannot answer.

    .venv/bin/python bench/eval_abstain.py ../shared/eval/covidqa ../shared/eval/scifact

For each dataset's (cached) eval index, "about the corpus" questions are its own queries;
"unrelated" ones are the hand-written off-topic questions in bench/data/offtopic-questions.txt
and the other dataset's queries (same field, different documents: hard negatives). Each
question gets the signals `kzqa ask` can see for its top hit (hybrid mode): the cosine of the
top passage and the share of the question's content terms found in it. A threshold is tuned
on the even-numbered questions of every group (best F1 of "answered") and reported on the odd
ones and on all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kzqa.config import Config
from kzqa.ops.evaluate import load_dataset, prepare
from kzqa.search.lexical import content_stems
from kzqa.search.searcher import Searcher, confidence

OFFTOPIC = Path(__file__).resolve().parent / "data" / "offtopic-questions.txt"


def signals(searcher: Searcher, questions: list[str]) -> list[tuple[float, float, float]]:
    """(cosine, term coverage, confidence) of the top passage per question, hybrid ranking."""
    passages = searcher.generation.passages
    qvecs = searcher.embed_questions(questions)
    found = searcher.candidates(questions, qvecs, searcher.cfg.candidates, "hybrid")
    out = []
    for q, c in zip(questions, found, strict=True):
        ranked = searcher.rank(c, "hybrid")
        if not ranked:
            out.append((0.0, 0.0, 0.0))
            continue
        top = ranked[0][0]
        terms = content_stems(q)
        cover = len(terms & content_stems(passages[top].text)) / len(terms) if terms else 0.0
        out.append((c.dense[top], cover, confidence(terms, passages[top].text, c.dense[top])))
    return out


def prf(rows: list[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    answered = [pos for score, pos in rows if score >= threshold]
    tp = sum(answered)
    positives = sum(pos for _, pos in rows)
    precision = tp / len(answered) if answered else 1.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_threshold(rows: list[tuple[float, bool]]) -> float:
    grid = sorted({round(s, 3) for s, _ in rows})
    return max(grid, key=lambda t: (prf(rows, t)[2], -t))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs=2, type=Path)
    parser.add_argument("--only-first", action="store_true", help="calibrate on the first only")
    parser.add_argument("--min-score", type=float, help="threshold to report (default: config)")
    args = parser.parse_args()
    cfg = Config()  # the built-in defaults, whatever ./kzqa.yaml says
    data = [load_dataset(d) for d in args.datasets]
    offtopic = [q for q in OFFTOPIC.read_text(encoding="utf-8").splitlines() if q.strip()]
    rules = {
        "cosine": lambda s: s[0],
        "coverage": lambda s: s[1],
        "confidence (cosine + 0.5 coverage)": lambda s: s[2],
    }
    print("| index | rule | threshold (tuned on even) | P / R / F1 odd | P / R / F1 all |")
    print("| --- | --- | --- | --- | --- |")
    current = cfg.min_score if args.min_score is None else args.min_score
    article_check(cfg, offtopic, current)
    pairs = [(data[0], data[1]), (data[1], data[0])]
    for own, other in pairs[:1] if args.only_first else pairs:
        ecfg, _ = prepare(cfg, own, None)
        searcher = Searcher.open(ecfg)
        groups = {
            "own": (list(own.queries.values()), True),
            "offtopic": (offtopic, False),
            "other": (list(other.queries.values()), False),
        }
        sig = {name: signals(searcher, qs) for name, (qs, _) in groups.items()}
        for rule_name, rule in rules.items():
            rows = {name: [(rule(s), groups[name][1]) for s in sig[name]] for name in groups}
            even = [r for name in groups for r in rows[name][0::2]]
            odd = [r for name in groups for r in rows[name][1::2]]
            every = [r for name in groups for r in rows[name]]
            t = best_threshold(even)
            po, ro, fo = prf(odd, t)
            pa, ra, fa = prf(every, t)
            print(
                f"| {own.name} | {rule_name} | {t:.3f} | {po:.3f} / {ro:.3f} / {fo:.3f} "
                f"| {pa:.3f} / {ra:.3f} / {fa:.3f} |",
                flush=True,
            )
        conf = {name: [(s[2], groups[name][1]) for s in sig[name]] for name in groups}
        for label, names in (
            ("all negatives", list(groups)),
            ("off-topic only", ["own", "offtopic"]),
        ):
            rows_all = [r for name in names for r in conf[name]]
            p, r, f = prf(rows_all, current)
            print(
                f"| {own.name} | confidence at min_score, {label} | {current:.3f} | "
                f"| {p:.3f} / {r:.3f} / {f:.3f} |",
                flush=True,
            )


def article_check(cfg, offtopic: list[str], threshold: float) -> None:
    """The article (corpus/): its English questions should be answered, off-topic ones not."""
    from dataclasses import replace

    from kzqa.build import build_index

    root = Path(__file__).resolve().parent.parent
    acfg = replace(cfg, corpus=root / "corpus", index=root / "bench" / "out" / "article-index")
    build_index(acfg, wait=600)
    searcher = Searcher.open(acfg)
    rows = (root / "bench" / "data" / "article-questions.tsv").read_text(encoding="utf-8")
    own = [line.split("\t")[2] for line in rows.splitlines()[1:] if line.startswith("en\t")]
    pos = [c for _, _, c in signals(searcher, own)]
    neg = [c for _, _, c in signals(searcher, offtopic)]
    print(
        f"\narticle at min_score {threshold:.3f}: {sum(c >= threshold for c in pos)}/{len(pos)} "
        f"article questions answered (lowest confidence {min(pos):.3f}); "
        f"{sum(c >= threshold for c in neg)}/{len(neg)} off-topic questions answered "
        f"(highest {max(neg):.3f})\n"
    )


if __name__ == "__main__":
    main()
