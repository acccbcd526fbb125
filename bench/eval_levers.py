"""Retrieval levers tried on top of the default hybrid ranking (issue 4), kept or not.

    .venv/bin/python bench/eval_levers.py ../shared/eval/scifact ../shared/eval/covidqa

On each dataset's (cached) eval index, with the default fusion, compares nDCG@10 on even
queries (tuning half), odd queries (held out) and all, for:

- default: BM25 reads each passage after its file's title (lexical.with_title)
- BM25 on the passage text alone (the default before)
- the title before the passage for the dense leg too (re-embeds the passages that gain a
  title, once: cached in bench/out/levers-<dataset>-title-vectors.npy)
- dense pseudo-relevance feedback (Rocchio: the question vector plus 0.3 x the mean of the
  top 3 fused passages' vectors, then search and fuse again)
- a document bonus: + 0.2 x the question's cosine to the mean vector of the passage's file
- a document BM25 bonus: + 0.2 x the BM25 score of the passage's whole file
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from eval_fusion import POOL, docs_of, halves, open_eval, pooled
from kzqa.config import Config
from kzqa.records import Passage
from kzqa.search import lexical
from kzqa.search.searcher import Candidates, Searcher

ROOT = Path(__file__).resolve().parent.parent
PRF_WEIGHT, PRF_DEPTH = 0.3, 3
DOC_WEIGHT = 0.2


def bm25_index(texts: list[str]) -> lexical.Lexical:
    folder = Path(tempfile.mkdtemp(prefix="kzqa-levers-"))
    lexical.build(texts, folder)
    return lexical.Lexical(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    cfg = Config()  # the built-in defaults, whatever ./kzqa.yaml says
    print("| dataset | lever | even | odd | all |")
    print("| --- | --- | --- | --- | --- |")
    for folder in args.datasets:
        print_levers(folder, cfg)


def print_levers(folder: Path, cfg: Config) -> None:
    """The table rows of one dataset."""
    data, searcher, doc_of, titles, qids, questions, qvecs = open_eval(folder, cfg)
    gen = searcher.generation
    passages = gen.passages
    vectors = np.asarray(gen.vectors)

    text_bm25 = bm25_index([p.text for p in passages])
    bonus = file_bonus(passages, vectors, titles, questions, qvecs)

    title_hits = gen.lexical.search_many(questions, POOL)

    def ranked(
        hits: list[list[tuple[int, float]]],
        vecs: np.ndarray,
        q: np.ndarray,
        adjust: Callable[[int, Candidates], Candidates] | None = None,
    ) -> dict[str, list[str]]:
        """Documents per question, ranked as the default does over candidates from these
        vectors and BM25 hits; `adjust` may change a question's candidates first."""
        cosines = q @ vecs.T
        runs = {}
        for n, qid in enumerate(qids):
            found = pooled(
                cosines[n], hits[n], sentences=partial(searcher.match_sentences, qvec=q[n])
            )
            if adjust is not None:
                found = adjust(n, found)
            runs[qid] = docs_of(searcher.rank(found, "hybrid"), doc_of)
        return runs

    def feedback() -> dict[str, list[str]]:
        cosines = qvecs @ vectors.T
        expanded = qvecs.copy()
        for n in range(len(qids)):
            sentences = partial(searcher.match_sentences, qvec=qvecs[n])
            first = searcher.rank(pooled(cosines[n], title_hits[n], sentences=sentences), "hybrid")
            expanded[n] += PRF_WEIGHT * vectors[[i for i, _ in first[:PRF_DEPTH]]].mean(axis=0)
        expanded /= np.linalg.norm(expanded, axis=1, keepdims=True)
        return ranked(title_hits, vectors, expanded)

    levers: dict[str, Callable[[], dict[str, list[str]]]] = {
        "**default** (BM25: title + text)": lambda: ranked(title_hits, vectors, qvecs),
        "BM25 on the text alone": lambda: ranked(
            text_bm25.search_many(questions, POOL), vectors, qvecs
        ),
        "title before the passage for dense too": lambda: ranked(
            title_hits, titled_vectors(folder.name, searcher, titles), qvecs
        ),
        f"dense feedback (Rocchio {PRF_WEIGHT}, top {PRF_DEPTH})": feedback,
        f"document bonus: {DOC_WEIGHT} x cosine to the file's mean": lambda: ranked(
            title_hits, vectors, qvecs, bonus(DOC_WEIGHT, 0.0)
        ),
        f"document BM25 bonus: {DOC_WEIGHT} x the file's BM25": lambda: ranked(
            title_hits, vectors, qvecs, bonus(0.0, DOC_WEIGHT)
        ),
    }
    for name, run in levers.items():
        cells = " | ".join(f"{x:.4f}" for x in halves(run(), data))
        print(f"| {data.name} | {name} | {cells} |", flush=True)


Adjust = Callable[[int, Candidates], Candidates]


def file_bonus(
    passages: list[Passage],
    vectors: np.ndarray,
    titles: dict[str, str | None],
    questions: list[str],
    qvecs: np.ndarray,
) -> Callable[[float, float], Adjust]:
    """Document bonuses for question n's candidates: + a x the question's cosine to the mean
    vector of the passage's file (dense leg), + b x the whole file's BM25 score (BM25 leg)."""
    files = [p.path for p in passages]
    order = list(dict.fromkeys(files))
    row_of = {f: i for i, f in enumerate(order)}
    file_of = np.array([row_of[f] for f in files])
    means = np.zeros((len(order), vectors.shape[1]), dtype=np.float32)
    np.add.at(means, file_of, vectors)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    cosines = qvecs @ means.T
    whole: dict[str, list[str]] = {f: [] for f in order}
    for p in passages:
        whole[p.path].append(p.text)
    index = bm25_index([lexical.with_title(" ".join(whole[f]), titles[f]) for f in order])
    hits = [dict(found) for found in index.search_many(questions, len(order))]

    def bonus(a: float, b: float) -> Adjust:
        def adjust(n: int, c: Candidates) -> Candidates:
            return replace(
                c,
                dense={i: d + a * float(cosines[n, file_of[i]]) for i, d in c.dense.items()},
                bm25={i: s + b * hits[n].get(int(file_of[i]), 0.0) for i, s in c.bm25.items()},
            )

        return adjust

    return bonus


def titled_vectors(name: str, searcher: Searcher, titles: dict[str, str | None]) -> np.ndarray:
    """The passage vectors with each passage embedded after its file's title (cached, per
    index fingerprint: a re-chunked index has other passages)."""
    gen = searcher.generation
    key = gen.manifest.fingerprint[:12]
    cache = ROOT / "bench" / "out" / f"levers-{name}-{key}-title-vectors.npy"
    if cache.is_file():
        return np.load(cache)
    vectors = np.array(gen.vectors)
    texts = [lexical.with_title(p.text, titles[p.path]) for p in gen.passages]
    changed = [i for i, p in enumerate(gen.passages) if texts[i] != p.text]
    for start in range(0, len(changed), 256):
        rows = changed[start : start + 256]
        vectors[rows] = searcher.encoder.embed([texts[i] for i in rows])
    np.save(cache, vectors)
    return vectors


if __name__ == "__main__":
    main()
