"""BM25's fields, k1 and b on the eval datasets, alone and fused with the dense leg.

    .venv/bin/python bench/eval_bm25_params.py ../shared/eval/scifact ../shared/eval/covidqa

Re-indexes the passages of each (cached) eval index with bm25s at every (k1, b) of the grid
(seconds each; the vectors are reused), each passage as its text alone or after its file's
title (lexical.with_title), and prints nDCG@10 on even queries (tuning half) and all queries,
for BM25 alone and for the default hybrid ranking (fusion and neighbour bonus).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from eval_fusion import POOL, by_score, docs_of, pooled
from kzqa.config import Config
from kzqa.ops.evaluate import load_dataset, prepare, score_runs
from kzqa.search import lexical
from kzqa.search.searcher import Searcher

GRID = [(1.5, 0.75), (1.2, 0.75), (0.9, 0.4), (0.7, 0.3), (0.6, 0.3), (0.5, 0.2)]
FIELDS = ("text", "title+text")


def main() -> None:
    import bm25s
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    cfg = Config()  # the built-in defaults, whatever ./kzqa.yaml says
    print("| dataset | fields | k1 | b | BM25 even | BM25 all | hybrid even | hybrid all |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for folder in args.datasets:
        data = load_dataset(folder)
        ecfg, paths = prepare(cfg, data, None)
        searcher = Searcher.open(ecfg)
        passages = searcher.generation.passages
        vectors = np.asarray(searcher.generation.vectors)
        doc_of = [paths.get(p.path) for p in passages]
        qids = list(data.queries)
        questions = [data.queries[q] for q in qids]
        qvecs = searcher.embed_questions(questions)
        cosines = qvecs @ vectors.T
        titles = {path: meta.get("title") for path, meta in searcher.manifest.files.items()}
        terms = lexical.tokenize_queries(questions)
        for fields, (k1, b) in [(f, kb) for f in FIELDS for kb in GRID]:
            texts = [
                lexical.with_title(p.text, titles[p.path]) if fields != "text" else p.text
                for p in passages
            ]
            tokens = lexical.tokenize(texts)
            retriever = bm25s.BM25(k1=k1, b=b)
            retriever.index(tokens, show_progress=False)
            vocab = retriever.vocab_dict
            found = []
            for n in range(len(qids)):
                query = [t for t in terms[n] if t in vocab]
                hits: list[tuple[int, float]] = []
                if query:
                    ids, scores = retriever.retrieve([query], k=POOL, show_progress=False)
                    hits = [
                        (int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0
                    ]
                found.append(
                    pooled(
                        cosines[n], hits, sentences=partial(searcher.match_sentences, qvec=qvecs[n])
                    )
                )
            row = [data.name, fields, str(k1), str(b)]
            for rule in (lambda c: by_score(c.bm25), lambda c, s=searcher: s.rank(c, "hybrid")):
                runs = {q: docs_of(rule(c), doc_of) for q, c in zip(qids, found, strict=True)}
                even = score_runs({q: runs[q] for q in qids[0::2]}, data)["ndcg@10"]
                row += [f"{even:.4f}", f"{score_runs(runs, data)['ndcg@10']:.4f}"]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
