"""Search latency, recall@10 against exact search, build time and memory at 10k-1M passages.

    .venv/bin/python bench/ann_scale.py [--sizes 10000 100000 1000000] [--queries 500]
        [--seeds bench/out/p10k/index] [--kinds flat hnsw ivfpq]

Vectors are synthetic but shaped like the real ones: each is a real MiniLM passage vector
(--seeds: a .npy file or an index folder; else 2,000 random cluster centres) plus
Gaussian noise, normalized, so neighbourhoods are clustered as in a corpus, not uniform.
Queries are drawn the same way and are not in the index. Each index is built with kzqa's own
ann.build and searched through ann.search one query at a time (as `kzqa ask` does); the
exact top-10 comes from a flat index. "index MB" is the serialized index (what stays in RAM);
ivfpq also reads vectors.npy (memory-mapped: 1.5 GB on disk at 1M) for the rows it re-scores.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kzqa.config import Config
from kzqa.search import dense as ann

ROOT = Path(__file__).resolve().parents[2]  # the repository
DIM = 384  # MiniLM
NOISE = 0.04  # per-dimension noise: a point has cosine ~0.8 to its seed, ~0.64 to a sibling


def seeds(source: Path, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Real passage vectors: a .npy file, or the live generation of an index folder."""
    found = [source] if source.suffix == ".npy" else sorted(source.glob("gen-*/vectors.npy"))
    if found and found[-1].is_file():
        vectors = np.load(found[-1]).astype(np.float32)
        return vectors, f"{len(vectors)} real MiniLM passage vectors ({found[-1]})"
    centres = rng.standard_normal((2_000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return centres, "2,000 random unit cluster centres"


def sample(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    step = 100_000
    for i in range(0, n, step):
        m = min(step, n - i)
        part = base[rng.integers(0, len(base), m)] + NOISE * rng.standard_normal(
            (m, base.shape[1]), dtype=np.float32
        )
        out[i : i + m] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def index_bytes(index: object) -> int:
    import faiss

    return int(faiss.serialize_index(index).size)


# The knobs that trade recall for time, searched on one build. kzqa asks FAISS for its
# candidate pool (100 passages), so ivfpq's default rerank=10 re-scores 1,000 candidates:
# here, at k=10, that is rerank=100.
SWEEP: dict[str, list[dict[str, int]]] = {
    "hnsw": [{"ef_search": v} for v in (64, 128, 256)],
    "ivfpq": [{"nprobe": p, "rerank": r} for p, r in ((16, 10), (32, 30), (32, 100), (64, 100))],
}


def measure(
    kind: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, cfg: Config
) -> list[dict[str, Any]]:
    """Build once; search at each setting of the knob that trades recall for time."""
    params = ann.params_for(kind, cfg, len(vectors))
    started = time.perf_counter()
    index = ann.build(vectors, params)
    built = time.perf_counter() - started
    size = index_bytes(index.index if isinstance(index, ann.Reranked) else index)
    rows = []
    for setting in SWEEP.get(kind, [{}]):
        params = replace(params, **setting)
        if kind == "hnsw":
            index.hnsw.efSearch = params.ef_search
        elif kind == "ivfpq":
            index.index.nprobe = params.nprobe
            index.factor = params.rerank
        times, recalls = [], []
        for q, want in zip(queries, truth, strict=True):
            t = time.perf_counter()
            got = ann.search(index, q[None, :], 10)[0]
            times.append(time.perf_counter() - t)
            recalls.append(len({i for i, _ in got} & set(want.tolist())) / 10)
        times.sort()
        rows.append(
            {
                "kind": params.kind,
                "params": params.describe(),
                "build_s": built,
                "p50_ms": 1000 * statistics.median(times),
                "p99_ms": 1000 * times[int(0.99 * (len(times) - 1))],
                "recall": float(np.mean(recalls)),
                "mb": size / 1e6,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivfpq"])
    parser.add_argument("--seeds", type=Path, default=ROOT / "bench" / "out" / "p10k" / "index")
    args = parser.parse_args()
    import faiss

    rng = np.random.default_rng(5)
    base, how = seeds(args.seeds, rng)
    cfg = Config()
    print(f"vectors: {how}, plus N(0, {NOISE}^2) noise per dimension, normalized")
    print(f"faiss {faiss.__version__}; 1 thread; searches one query per call")
    print(
        f"{'passages':>9} {'index':6} {'params':38} {'build s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'recall@10':>9} {'index MB':>9}"
    )
    for n in args.sizes:
        vectors = sample(base, n, rng)
        queries = sample(base, args.queries, rng)
        exact = faiss.IndexFlatIP(DIM)
        exact.add(vectors)
        _, truth = exact.search(queries, 10)
        del exact
        for kind in args.kinds:
            for r in measure(kind, vectors, queries, truth, cfg):
                print(
                    f"{n:9d} {r['kind']:6} {r['params']:38} {r['build_s']:8.1f} "
                    f"{r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['recall']:9.3f} {r['mb']:9.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
