"""Answer sentences: stored (pooled from the passage's tokens) vs embedding each sentence alone.

    .venv/bin/python bench/eval_answer.py [../shared/eval/covidqa]

On the dataset's (cached) eval index, for every question whose top passage (hybrid) is
relevant and that has gold answers, picks the answer sentence of that passage twice: with the
sentence vectors the index stores, and with each sentence embedded on its own by the ONNX
encoder (what kzqa did before storing them). Prints answer@1 (the sentence holds at least half
of a gold answer's tokens) and the time per question of each, measured side by side.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from kzqa.config import Config
from kzqa.ops.evaluate import answer_hit, load_dataset, prepare
from kzqa.search.answer import choose_answers
from kzqa.search.searcher import Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, nargs="?", default=Path("../shared/eval/covidqa"))
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    ecfg, paths = prepare(Config(), data, None)
    searcher = Searcher.open(ecfg)
    gen = searcher.generation
    if gen.sentence_rows is None:
        raise SystemExit("the eval index stores no sentence vectors: rebuild it with this kzqa")
    qids = list(data.queries)
    ranked = searcher.rank_many([data.queries[q] for q in qids], 10)
    asked = [
        (q, r[0][0])
        for q, r in zip(qids, ranked, strict=True)
        if r and paths.get(gen.passages[r[0][0]].path) in data.qrels[q] and data.answers.get(q)
    ]
    qvecs = searcher.embed_questions([data.queries[q] for q, _ in asked])
    hits = {"stored": 0, "embedded": 0}
    times: dict[str, list[float]] = {"stored": [], "embedded": []}
    for (q, row), qvec in zip(asked, qvecs, strict=True):
        passage = [gen.passages[row]]
        for way in hits:  # side by side, question by question
            stored = [gen.sentence_vectors(row)] if way == "stored" else []
            started = time.perf_counter()
            (answer,) = choose_answers(data.queries[q], qvec, passage, searcher.encoder, stored)
            times[way].append(time.perf_counter() - started)
            hits[way] += answer_hit(answer.text, data.answers[q])
    print(f"{data.name}: {len(asked)} questions whose top passage is relevant")
    print(f"{'sentence vectors':<40} {'answer@1':>9} {'median ms':>10}")
    for way, label in (
        ("stored", "stored (pooled from the passage's tokens)"),
        ("embedded", "each sentence embedded alone"),
    ):
        ms = 1000 * statistics.median(times[way])
        print(f"{label:<40} {hits[way] / len(asked):>9.4f} {ms:>10.2f}")


if __name__ == "__main__":
    main()
