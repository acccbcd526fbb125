"""The int8 question encoder against the full one: speed, vectors, rankings.

    .venv/bin/python bench/perf/question_int8.py ../shared/eval/scifact ../shared/eval/covidqa

For each dataset (its `kzqa eval` index, built or brought up to date first, which also adds
the export's int8 graph), every query is embedded one at a time by each encoder on one ONNX
Runtime thread (as `kzqa serve` runs it) and ranked as `kzqa eval` ranks (hybrid). Prints per
dataset: CPU ms per question of each, the cosine between a question's two vectors (min,
median), nDCG@10 of each, and the share of queries whose top-10 documents differ (in order, or
at all as a set). Last column: the same share for the full encoder's questions embedded 32
to a call against alone (what batching the questions of concurrent requests would change).
nDCG@10, answer@1 and abstention of both: bench/harness.py -c default questions-float32.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from kzqa.config import load_config
from kzqa.embed.onnx import OnnxEncoder
from kzqa.ops.evaluate import DEPTH, load_dataset, prepare, rank_documents, score_runs
from kzqa.records import Ranked
from kzqa.search import Searcher


def rank(searcher: Searcher, questions: list[str], vectors: np.ndarray) -> list[Ranked]:
    """Each question's hybrid ranking, as `kzqa eval` ranks."""
    pool = max(searcher.cfg.candidates, DEPTH * 3)
    found = searcher.candidates(questions, vectors, pool, "hybrid")
    return [searcher.rank(c, "hybrid") for c in found]


def compare(folder: Path) -> str:
    """One dataset's row of the table."""
    data = load_dataset(folder)
    cfg, paths = prepare(load_config(None), data, None)
    opened = Searcher.open(cfg)
    export = cfg.index / str(opened.manifest.onnx)
    doc_of = [paths.get(p.path) for p in opened.generation.passages]
    qids = list(data.queries)
    questions = [data.queries[q] for q in qids]
    vectors, runs, ms, ndcg = {}, {}, {}, {}
    encoders = {p: OnnxEncoder(export, threads=1, precision=p) for p in ("float32", "int8")}
    for precision, encoder in encoders.items():
        assert encoder.precision == precision, f"no {precision} graph in {export}"
        encoder.embed(questions[:1])
        started = time.thread_time()
        vectors[precision] = np.vstack([encoder.embed([q]) for q in questions])
        ms[precision] = 1000 * (time.thread_time() - started) / len(questions)
    vectors["batched"] = encoders["float32"].embed(questions)  # 32 to a call
    for run, embedded in vectors.items():
        searcher = Searcher(
            cfg, opened.generation, encoders["int8" if run == "int8" else "float32"]
        )
        ranked = rank(searcher, questions, embedded)
        runs[run] = {q: rank_documents(r, doc_of) for q, r in zip(qids, ranked, strict=True)}
        ndcg[run] = score_runs(runs[run], data, 10)["ndcg@10"]
    cosine = (vectors["float32"] * vectors["int8"]).sum(axis=1)
    full, small, batched = runs["float32"], runs["int8"], runs["batched"]
    order = sum(full[q][:10] != small[q][:10] for q in qids) / len(qids)
    changed = sum(set(full[q][:10]) != set(small[q][:10]) for q in qids) / len(qids)
    moved = sum(full[q][:10] != batched[q][:10] for q in qids) / len(qids)
    return (
        f"| {data.name} ({len(qids)}) | {ms['float32']:.2f} → {ms['int8']:.2f} "
        f"({ms['float32'] / ms['int8']:.1f}×) | {cosine.min():.4f} / {np.median(cosine):.4f} | "
        f"{ndcg['float32']:.4f} → {ndcg['int8']:.4f} | {order:.0%} / {changed:.0%} | "
        f"{moved:.1%} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    print("| dataset | ms / question: float32 → int8 | cosine min / median | ", end="")
    print("nDCG@10: float32 → int8 | top-10 differs: order / set | float32 batched: differs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for folder in args.datasets:
        print(compare(folder), flush=True)


if __name__ == "__main__":
    main()
