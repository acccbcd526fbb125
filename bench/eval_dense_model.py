"""Another dense model in place of the default one, on the default index's passages (issue 4).

    .venv/bin/python bench/eval_dense_model.py MODEL_DIR ../shared/eval/scifact [more datasets]

Embeds the passages of each dataset's (cached, default) eval index and its queries with the
sentence-transformers model in MODEL_DIR (normalized; cached in
bench/out/dense-<model>-<dataset>-{passages,queries}.npy, as the embedding takes an hour for
SciFact with all-mpnet-base-v2 on 2 cores), then ranks with the default BM25 and fusion, the
dense leg's vectors swapped. Prints nDCG@10 (even / odd / all queries) for dense alone and
hybrid, for the default model and this one, and the indexing speed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from eval_fusion import POOL, docs_of, halves, pooled
from kzqa.config import Config
from kzqa.ops.evaluate import load_dataset, prepare
from kzqa.search.searcher import Searcher

ROOT = Path(__file__).resolve().parent.parent


def embedded(model_dir: Path, kind: str, name: str, texts: list[str]) -> np.ndarray:
    cache = ROOT / "bench" / "out" / f"dense-{model_dir.name}-{name}-{kind}.npy"
    if cache.is_file():
        vectors = np.load(cache)
        if len(vectors) == len(texts):
            return vectors
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True).astype(np.float32)
    seconds = time.perf_counter() - started
    print(f"embedded {len(texts)} {name} {kind} in {seconds:.0f} s ({len(texts) / seconds:.1f}/s)")
    np.save(cache, vectors)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    cfg = Config()  # the built-in defaults, whatever ./kzqa.yaml says
    print("| dataset | dense model | ranking | even | odd | all |")
    print("| --- | --- | --- | --- | --- | --- |")
    for folder in args.datasets:
        data = load_dataset(folder)
        ecfg, paths = prepare(cfg, data, None)
        searcher = Searcher.open(ecfg)
        gen = searcher.generation
        doc_of = [paths.get(p.path) for p in gen.passages]
        qids = list(data.queries)
        questions = [data.queries[q] for q in qids]
        lexical = gen.lexical.search_many(questions, POOL)
        models = {
            gen.manifest.model: (np.asarray(gen.vectors), searcher.embed_questions(questions)),
            args.model_dir.name: (
                embedded(args.model_dir, "passages", data.name, [p.text for p in gen.passages]),
                embedded(args.model_dir, "queries", data.name, questions),
            ),
        }
        for model, (vectors, qvecs) in models.items():
            cosines = qvecs @ vectors.T
            runs: dict[str, dict[str, list[str]]] = {"dense": {}, "hybrid": {}}
            for n, q in enumerate(qids):
                # No best-sentence evidence: the index's sentence vectors are MiniLM's, and
                # mixing them with another model's cosines would measure neither.
                found = pooled(cosines[n], lexical[n])
                for ranking in runs:
                    runs[ranking][q] = docs_of(searcher.rank(found, ranking), doc_of)
            for ranking, run in runs.items():
                row = " | ".join(f"{x:.4f}" for x in halves(run, data))
                print(f"| {data.name} | {model} | {ranking} | {row} |", flush=True)


if __name__ == "__main__":
    main()
