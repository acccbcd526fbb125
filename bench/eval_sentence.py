"""The dense leg with and without its best-sentence evidence (search.sentence_weight).

    .venv/bin/python bench/eval_sentence.py ../shared/eval/scifact ../shared/eval/covidqa

On each dataset's (cached) eval index, takes every question's candidates once, as
`kzqa eval` does (each retriever's top 300), then ranks them with the dense score
cosine + w x (cosine of the passage's best stored sentence) for each w, in hybrid and dense
mode. Prints nDCG@10 on even queries (the tuning half), odd queries (held out) and all, and
the time the sentence cosines add per question.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from eval_fusion import docs_of, halves
from kzqa.config import Config
from kzqa.ops.evaluate import DEPTH, load_dataset, prepare
from kzqa.search.searcher import Searcher

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # 0: the cosine alone; 1: sentence as much as passage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    cfg = Config()  # the built-in defaults, whatever ./kzqa.yaml says
    print("| dataset | mode | sentence_weight | even | odd | all |")
    print("| --- | --- | --- | --- | --- | --- |")
    for folder in args.datasets:
        data = load_dataset(folder)
        ecfg, paths = prepare(cfg, data, None)
        # Candidates carry best-sentence cosines only when gathered with a weight above 0.
        searcher = Searcher.open(replace(ecfg, sentence_weight=1.0))
        if searcher.generation.sentence_rows is None:
            raise SystemExit(f"{folder}: the eval index stores no sentence vectors")
        doc_of = [paths.get(p.path) for p in searcher.generation.passages]
        qids = list(data.queries)
        questions = [data.queries[q] for q in qids]
        qvecs = searcher.embed_questions(questions)
        pool = max(cfg.candidates, 3 * DEPTH)  # as Searcher.rank_many for `kzqa eval`
        for mode in ("hybrid", "dense"):
            found = searcher.candidates(questions, qvecs, pool, mode)
            for w in WEIGHTS:
                ranker = Searcher(
                    replace(ecfg, sentence_weight=w), searcher.generation, searcher.encoder
                )
                runs = {
                    q: docs_of(ranker.rank(c, mode), doc_of)
                    for q, c in zip(qids, found, strict=True)
                }
                cells = " | ".join(f"{x:.4f}" for x in halves(runs, data))
                default = " (default)" if w == cfg.sentence_weight else ""
                print(f"| {data.name} | {mode} | {w}{default} | {cells} |", flush=True)
        found = searcher.candidates(questions, qvecs, cfg.candidates, "hybrid")  # as `ask`
        started = time.perf_counter()
        for c, qvec in zip(found, qvecs, strict=True):
            searcher.match_sentences(list(c.dense), qvec)
        ms = 1000 * (time.perf_counter() - started) / len(qids)
        avg = sum(len(c.dense) for c in found) / len(found)
        print(f"\n{data.name}: the best-sentence cosines of {avg:.0f} candidates (as `ask`)")
        print(f"take {ms:.2f} ms a question\n")


if __name__ == "__main__":
    main()
