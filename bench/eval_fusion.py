"""Compare fusion rules on BEIR-style datasets, tuned on even queries, reported on odd and all.

    .venv/bin/python bench/eval_fusion.py ../shared/eval/scifact ../shared/eval/covidqa
    .venv/bin/python bench/eval_fusion.py --config bench/configs/multilingual.yaml ...

Retrieves each retriever's top candidates once per dataset (cached eval index, default
settings or those of --config, e.g. another model), then scores every fusion rule from
those candidates, so a rule costs seconds.
Prints a markdown table per dataset: nDCG@10 on even queries (the tuning half), odd
queries (held out) and all.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kzqa.config import Config, load_config
from kzqa.ops.evaluate import DEPTH, Dataset, load_dataset, prepare, score_runs
from kzqa.search import fusion
from kzqa.search.searcher import Candidates, Searcher

POOL = 100  # candidates per retriever, as the default config
Rule = Callable[[Candidates], fusion.Ranked]


def by_score(scores: dict[int, float]) -> fusion.Ranked:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def rules(paths: list[str], sentence_weight: float) -> dict[str, Rule]:
    """Every rule compared; paths: the file of each passage row (for neighbours). Each fuses
    the dense score with that weight of best-sentence evidence (Candidates.score_dense)."""

    def dense(c: Candidates) -> dict[int, float]:
        return c.score_dense(sentence_weight)

    out: dict[str, Rule] = {
        "bm25": lambda c: by_score(c.bm25),
        "dense": lambda c: by_score(dense(c)),
    }
    for w in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6):
        out[f"convex w={w}"] = lambda c, w=w: fusion.convex(dense(c), c.bm25, w)
    for k in (10, 60):
        for w in (0.33, 0.5):
            out[f"rrf k={k} w={w}"] = lambda c, k=k, w=w: fusion.rrf(
                by_score(c.bm25), by_score(dense(c)), k=k, weights=(1 - w, w)
            )
    for w in (0.1, 0.2, 0.3):
        out[f"convex w=0.5 + neighbours {w}"] = lambda c, w=w: fusion.with_neighbours(
            fusion.convex(dense(c), c.bm25, 0.5), paths, w
        )
        out[f"zscore w=0.6 + neighbours {w}"] = lambda c, w=w: fusion.with_neighbours(
            fusion.zscore(dense(c), c.bm25, 0.6), paths, w
        )
    for w in (0.3, 0.5, 0.7, 1.0, 1.5):
        out[f"raw-cosine w={w}"] = lambda c, w=w: raw_cosine(dense(c), c.bm25, w)
    for w in (0.3, 0.4, 0.5, 0.6, 0.7):
        out[f"zscore w={w}"] = lambda c, w=w: fusion.zscore(dense(c), c.bm25, w)
    return out


def raw_cosine(dense: dict[int, float], bm25: dict[int, float], w: float) -> fusion.Ranked:
    """BM25 over the best BM25 score, plus w times the raw dense score (not stretched per
    query)."""
    top = max(bm25.values(), default=0.0) or 1.0
    fused = {i: bm25.get(i, 0.0) / top + w * d for i, d in dense.items()}
    return by_score(fused)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, help="settings to use instead of the defaults")
    args = parser.parse_args()
    # The built-in defaults, whatever ./kzqa.yaml says, unless a config is given.
    cfg = load_config(args.config) if args.config else Config()
    table: dict[str, list[tuple[float, float, float]]] = {}
    for folder in args.datasets:
        data = load_dataset(folder)
        ecfg, paths = prepare(cfg, data, None)
        searcher = Searcher.open(ecfg)
        passages = searcher.generation.passages
        doc_of = [paths.get(p.path) for p in passages]
        qids = list(data.queries)
        started = time.perf_counter()
        qvecs = searcher.embed_questions([data.queries[q] for q in qids])
        found = searcher.candidates([data.queries[q] for q in qids], qvecs, POOL, "hybrid")
        per_query = 1000 * (time.perf_counter() - started) / len(qids)
        print(f"\n### {data.name} ({len(qids)} queries; candidates {per_query:.1f} ms/query)\n")
        print("| rule | even (tune) | odd (held out) | all | ms/query (fusion) |")
        print("| --- | --- | --- | --- | --- |")
        for name, rule in rules(searcher.paths, ecfg.sentence_weight).items():
            t = time.perf_counter()
            runs = {q: docs_of(rule(c), doc_of) for q, c in zip(qids, found, strict=True)}
            ms = 1000 * (time.perf_counter() - t) / len(qids)
            even, odd, every = halves(runs, data)
            print(f"| {name} | {even:.4f} | {odd:.4f} | {every:.4f} | {ms:.2f} |", flush=True)
            table.setdefault(name, []).append((even, odd, every))
    if len(args.datasets) > 1:
        print("\n### mean over the datasets (the rule is chosen on the even column)\n")
        print("| rule | even (tune) | odd (held out) | all |")
        print("| --- | --- | --- | --- |")
        means = {
            name: tuple(sum(col) / len(rows) for col in zip(*rows, strict=True))
            for name, rows in table.items()
        }
        for name, (even, odd, every) in sorted(means.items(), key=lambda kv: -kv[1][0]):
            print(f"| {name} | {even:.4f} | {odd:.4f} | {every:.4f} |")


class EvalSet(NamedTuple):
    """A dataset's cached eval index, opened with the given settings, questions embedded."""

    data: Dataset
    searcher: Searcher
    doc_of: list[str | None]  # the document of each passage row
    titles: dict[str, str | None]  # each indexed file's title
    qids: list[str]
    questions: list[str]
    qvecs: np.ndarray


def open_eval(folder: Path, cfg: Config) -> EvalSet:
    data = load_dataset(folder)
    ecfg, paths = prepare(cfg, data, None)
    searcher = Searcher.open(ecfg)
    gen = searcher.generation
    doc_of = [paths.get(p.path) for p in gen.passages]
    titles = {path: meta.get("title") for path, meta in gen.manifest.files.items()}
    qids = list(data.queries)
    questions = [data.queries[q] for q in qids]
    return EvalSet(
        data, searcher, doc_of, titles, qids, questions, searcher.embed_questions(questions)
    )


def halves(runs: dict[str, list[str]], data: Dataset) -> tuple[float, float, float]:
    """nDCG@10 on the even queries (the tuning half), the odd ones (held out) and all."""
    qids = [q for q in data.queries if q in runs]  # file order
    return (
        score_runs({q: runs[q] for q in qids[0::2]}, data)["ndcg@10"],
        score_runs({q: runs[q] for q in qids[1::2]}, data)["ndcg@10"],
        score_runs(runs, data)["ndcg@10"],
    )


def pooled(
    cosines: np.ndarray,
    bm25: list[tuple[int, float]],
    pool: int = POOL,
    sentences: Callable[[list[int]], dict[int, float]] | None = None,
) -> Candidates:
    """One question's candidates from its cosine to every passage and BM25's hits: the top
    `pool` by cosine, and the cosine of each BM25 hit too (as Searcher.candidates). With
    `sentences` (e.g. Searcher.match_sentences for this question), their best-sentence
    evidence as well, as the default ranking has it. BM25 hits fewer than `pool` are all the
    passages that match (Candidates.bm25_complete)."""
    top = np.argpartition(-cosines, pool)[:pool] if len(cosines) > pool else range(len(cosines))
    dense = {int(i): float(cosines[i]) for i in top}
    dense.update({i: float(cosines[i]) for i, _ in bm25 if i not in dense})
    sentence = sentences(list(dense)) if sentences else {}
    return Candidates(dense, dict(bm25), sentence, bm25_complete=len(bm25) < pool)


def docs_of(ranked: fusion.Ranked, doc_of: list[str | None]) -> list[str]:
    docs: list[str] = []
    seen: set[str] = set()
    for row, _ in ranked:
        doc = doc_of[row]
        if doc is not None and doc not in seen:
            seen.add(doc)
            docs.append(doc)
            if len(docs) == DEPTH:
                break
    return docs


if __name__ == "__main__":
    main()
