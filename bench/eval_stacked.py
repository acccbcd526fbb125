"""The last levers tried for SciFact's 0.74 (stop 8), on top of the current default.

    .venv/bin/python bench/eval_stacked.py ../shared/eval/scifact ../shared/eval/covidqa

On each dataset's (cached) eval index, ranks every question as `kzqa eval` does (each
retriever's top 300, the default fusion and best-sentence evidence), changing one thing:

- BM25's scoring variant in bm25s (Robertson, ATIRE, BM25L, BM25+; default: Lucene)
- the candidates per retriever (default: 300 in `kzqa eval`, 100 in `ask`)
- the two document bonuses of bench/eval_levers.py stacked on the default: + a x the
  question's cosine to the mean vector of the passage's file (dense leg), + b x the BM25
  score of the whole file (BM25 leg)

Prints nDCG@10 on even queries (the tuning half), odd queries (held out) and all.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from eval_fusion import docs_of, halves, open_eval, pooled
from eval_levers import file_bonus
from kzqa.config import Config
from kzqa.ops.evaluate import DEPTH
from kzqa.search import lexical
from kzqa.search.searcher import Candidates

POOL = 3 * DEPTH  # candidates per retriever, as Searcher.rank_many for `kzqa eval`
# bm25s's other scoring methods (Lucene's is the default); delta 0.5 is bm25s's own default.
VARIANTS = {"robertson": {}, "atire": {}, "bm25l": {"delta": 0.5}, "bm25+": {"delta": 0.5}}
# (file-mean cosine, file BM25) bonus weights: stop 7 measured 0.2 each alone; 0.5 is stronger.
BONUSES = [(a, b) for a in (0.0, 0.2, 0.5) for b in (0.0, 0.2, 0.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    print("| dataset | lever | even | odd | all |")
    print("| --- | --- | --- | --- | --- |")
    for folder in args.datasets:
        print_levers(folder, Config())  # the built-in defaults, whatever ./kzqa.yaml says


def print_levers(folder: Path, cfg: Config) -> None:
    import bm25s

    data, searcher, doc_of, titles, qids, questions, qvecs = open_eval(folder, cfg)
    gen = searcher.generation
    passages = gen.passages
    vectors = np.asarray(gen.vectors)
    cosines = qvecs @ vectors.T

    def run(
        hits: list[list[tuple[int, float]]],
        pool: int = POOL,
        adjust: Callable[[int, Candidates], Candidates] | None = None,
    ) -> dict[str, list[str]]:
        """Rank from these BM25 hits (dense candidates and best sentences as `kzqa eval`)."""
        runs = {}
        for n, qid in enumerate(qids):
            sentences = partial(searcher.match_sentences, qvec=qvecs[n])
            found = pooled(cosines[n], hits[n], pool, sentences)
            if adjust is not None:
                found = adjust(n, found)
            runs[qid] = docs_of(searcher.rank(found, "hybrid"), doc_of)
        return runs

    def row(name: str, runs: dict[str, list[str]]) -> None:
        cells = " | ".join(f"{x:.4f}" for x in halves(runs, data))
        print(f"| {data.name} | {name} | {cells} |", flush=True)

    default = gen.lexical.search_many(questions, POOL)
    row("**default** (Lucene BM25, 300 candidates)", run(default))

    tokens = lexical.tokenize([lexical.with_title(p.text, titles[p.path]) for p in passages])
    terms = lexical.tokenize_queries(questions)
    for method, extra in VARIANTS.items():
        bm25 = bm25s.BM25(k1=lexical.K1, b=lexical.B, method=method, **extra)
        bm25.index(tokens, show_progress=False)
        row(f"BM25 variant {method}", run([variant_hits(bm25, t, POOL) for t in terms]))
    for pool in (100, 200, 400):
        row(f"{pool} candidates", run(gen.lexical.search_many(questions, pool), pool))

    bonus = file_bonus(passages, vectors, titles, questions, qvecs)
    for a, b in BONUSES:
        if a or b:
            row(f"+ {a} x file-mean cosine, + {b} x file BM25", run(default, adjust=bonus(a, b)))


def variant_hits(bm25: Any, terms: list[str], k: int) -> list[tuple[int, float]]:
    query = [t for t in terms if t in bm25.vocab_dict]
    if not query:
        return []
    rows, scores = bm25.retrieve([query], k=k, show_progress=False)
    return [(int(i), float(s)) for i, s in zip(rows[0], scores[0], strict=True) if s > 0]


if __name__ == "__main__":
    main()
