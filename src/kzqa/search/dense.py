"""FAISS vector search whose type follows the corpus size.

- "flat": exact inner product (= cosine: vectors are normalized), below `ann.threshold`
  passages (default 50k). Exact and cheap while small: 100k passages take ~8 ms a query.
- "hnsw": a graph (HNSW, vectors kept in full) beyond it: at 1M passages 0.4 ms a query
  (p99 5 ms) with recall@10 0.985 against exact search; memory is the vectors plus ~2 x M x 4
  bytes a passage (1.8 GB at 1M); the build is slow (10 min at 1M on one busy core).
- "ivfpq": inverted lists of product-quantized codes (pq_m bytes a passage), when memory
  matters more than build time: the candidates are re-scored with the exact vectors (read
  from vectors.npy, memory-mapped), since PQ scores are too coarse to rank by.

The parameters are recorded in the manifest (index_type) and read back from it, so a search
uses the index as it was built. bench/perf/ann_scale.py measures all three (see BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, StoreError
from ..records import Ranked
from ..store import DENSE, REBUILD, VECTORS

if TYPE_CHECKING:
    import numpy as np

    from ..config import Config
    from ..store import Generation

KINDS = ("hnsw", "ivfpq")  # approximate kinds a config may choose beyond the threshold
TRAIN_PER_LIST = 64  # k-means training points per inverted list (FAISS warns below 39)
TRAIN_PQ = 40 * 256  # and enough for each 256-centroid PQ codebook
# FAISS's OpenMP threads spin-wait at every barrier, which on a busy 2-core machine costs far
# more than the second core brings. Measured there with 1 thread against 2: flat search of
# 100k passages ~15 ms against ~90 ms a query; HNSW build of 20k 3.3 s against 4.9 s; IVF-PQ
# build 12 s against 44 s. So one thread, for search and build alike.
FAISS_THREADS = 1
IVFPQ_MIN = 10_000  # fewer passages cannot train 256-centroid PQ codebooks well: stay exact
SEARCH_SETTINGS = ("ef_search", "nprobe", "rerank")  # IndexParams read at search, not build


@dataclass(frozen=True)
class IndexParams:
    kind: str  # "flat", "hnsw" or "ivfpq"
    m: int = 0  # hnsw: graph degree
    ef_construction: int = 0  # hnsw: candidates kept while building
    ef_search: int = 0  # hnsw: candidates kept while searching (recall vs time)
    nlist: int = 0  # ivfpq: inverted lists (k-means centres)
    nprobe: int = 0  # ivfpq: lists searched per query (recall vs time)
    pq_m: int = 0  # ivfpq: bytes per passage (sub-quantizers of 8 bits)
    rerank: int = 0  # ivfpq: candidates re-scored exactly, as a multiple of k

    def as_dict(self) -> dict[str, Any]:
        keys = {
            "flat": (),
            "hnsw": ("m", "ef_construction", "ef_search"),
            "ivfpq": ("nlist", "nprobe", "pq_m", "rerank"),
        }[self.kind]
        return {"kind": self.kind, **{k: getattr(self, k) for k in keys}}

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.as_dict().items() if k != "kind") or "exact"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IndexParams:
        names = ("m", "ef_construction", "ef_search", "nlist", "nprobe", "pq_m", "rerank")
        return cls(raw["kind"], **{k: int(raw.get(k, 0)) for k in names})


def same_build(recorded: dict[str, Any], wanted: IndexParams) -> bool:
    """Whether an index recorded as `recorded` (a manifest's index_type) is the one `wanted`
    builds: the same kind and shape. Search settings (ann.hnsw_ef_search, ivf_nprobe,
    ivf_rerank) are read from the manifest when the index is opened, so a generation that
    changes only them can take the index file as it is."""
    shape = {k: v for k, v in wanted.as_dict().items() if k not in SEARCH_SETTINGS}
    return {k: v for k, v in recorded.items() if k not in SEARCH_SETTINGS} == shape


def choose_params(n: int, cfg: Config) -> IndexParams:
    """Exact search below cfg.ann_threshold passages; the configured approximate kind above."""
    if n < cfg.ann_threshold or (cfg.ann_kind == "ivfpq" and n < IVFPQ_MIN):
        return IndexParams("flat")
    return params_for(cfg.ann_kind, cfg, n)


def params_for(kind: str, cfg: Config, n: int = 0) -> IndexParams:
    if kind == "flat":
        return IndexParams("flat")
    if kind == "hnsw":
        return IndexParams(
            "hnsw",
            m=cfg.hnsw_m,
            ef_construction=cfg.hnsw_ef_construction,
            ef_search=cfg.hnsw_ef_search,
        )
    if kind == "ivfpq":
        # ~sqrt(n) lists, a power of two, at least 64: 1M passages -> 1024 lists. FAISS suggests
        # 4-16 sqrt(n), but k-means over that many centres takes many minutes on 2 cores, and
        # the rerank makes up for the coarser lists (bench/perf/ann_scale.py).
        nlist = cfg.ivf_nlist or max(64, 2 ** round(math.log2(math.sqrt(max(n, 1)))))
        return IndexParams(
            "ivfpq", nlist=nlist, nprobe=cfg.ivf_nprobe, pq_m=cfg.pq_m, rerank=cfg.ivf_rerank
        )
    raise ValueError(f"unknown index kind {kind!r}")


def build(vectors: np.ndarray, params: IndexParams) -> Any:
    """A FAISS index over normalized vectors, scored by inner product (= cosine)."""
    import faiss
    import numpy as np

    _threads(FAISS_THREADS)

    dim = vectors.shape[1]
    index: Any
    if params.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif params.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
        index.hnsw.efSearch = params.ef_search
    else:
        if dim % params.pq_m:
            raise ConfigError(f"ann.pq_m ({params.pq_m}) must divide the model's dimension ({dim})")
        # The factory owns the coarse quantizer (built by hand, it can be freed under FAISS).
        index = faiss.index_factory(
            dim, f"IVF{params.nlist},PQ{params.pq_m}x8", faiss.METRIC_INNER_PRODUCT
        )
        # Polysemous codes only serve Hamming-distance filtering, which is not used here, and
        # training them took ~90% of the build (90 s for 20k passages on 2 cores).
        index.do_polysemous_training = False
        sample = min(len(vectors), max(TRAIN_PER_LIST * params.nlist, TRAIN_PQ))
        rows = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
        index.train(np.ascontiguousarray(vectors[np.sort(rows)]))
        faiss.extract_index_ivf(index).nprobe = params.nprobe
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    if params.kind == "ivfpq":
        return Reranked(index, vectors, params.rerank)
    return index


class Reranked:
    """An IVF-PQ index whose candidates are re-scored with the exact vectors."""

    def __init__(self, index: Any, vectors: np.ndarray, factor: int) -> None:
        self.index = index
        self.vectors = vectors
        self.factor = max(1, factor)
        self.ntotal = index.ntotal
        self.d = index.d

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        _, candidates = self.index.search(queries, min(self.index.ntotal, k * self.factor))
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (q, found) in enumerate(zip(queries, candidates, strict=True)):
            found = np.sort(found[found >= 0])  # sorted rows read the memory map in order
            exact = self.vectors[found] @ q
            best = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(best)], ids[row, : len(best)] = exact[best], found[best]
        return scores, ids


def write(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index.index if isinstance(index, Reranked) else index, str(path))


def read(path: Path, params: IndexParams) -> Any:
    """The index at path, tuned as params say; ivfpq also maps vectors.npy beside it."""
    import faiss

    # read_index returns the concrete type and owns it; a downcast_index() alias of it would
    # dangle once the owner is collected (a segfault on the first search).
    index: Any = faiss.read_index(str(path))
    if params.kind == "hnsw":
        index.hnsw.efSearch = params.ef_search
    elif params.kind == "ivfpq":
        import numpy as np

        faiss.extract_index_ivf(index).nprobe = params.nprobe
        # ivfpq re-scores its candidates with the exact vectors stored beside it.
        vectors = np.load(path.with_name(VECTORS), mmap_mode="r", allow_pickle=False)
        return Reranked(index, vectors, params.rerank)
    return index


def search(index: Any, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Top-k (passage row, cosine) per query, best first."""
    _threads(FAISS_THREADS)
    k = min(k, index.ntotal)
    if k <= 0:
        return [[] for _ in range(len(queries))]
    scores, ids = index.search(queries, k)
    return [
        [(int(i), float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0]
        for row_ids, row_scores in zip(ids, scores, strict=True)
    ]


def search_exact(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """What an exact (flat) FAISS index returns, computed with numpy on the stored vectors.

    The query path uses it for flat indexes: importing FAISS costs more (~0.15 s) than the
    search itself for an index that is small enough to be flat. tests/test_ann.py checks it
    against FAISS.
    """
    import numpy as np

    n = len(vectors)
    k = min(k, n)
    if k <= 0:
        return [[] for _ in range(len(queries))]
    return [
        top_k(scores, k) for scores in np.asarray(queries, dtype=np.float32) @ np.asarray(vectors).T
    ]


def top_k(scores: np.ndarray, k: int) -> Ranked:
    """The k best (row, score) of one query's score per row, best first (ties by row, as
    records.best_first orders them; sorted by numpy, as this runs twice an answer)."""
    import numpy as np

    n = len(scores)
    top = np.argpartition(-scores, k - 1)[:k] if 0 < k < n else np.arange(n)
    top = top[np.lexsort((top, -scores[top]))]
    return list(zip(top.tolist(), scores[top].tolist(), strict=True))


_omp = {"threads": 0}


def _threads(n: int) -> None:
    """Set FAISS's OpenMP thread count (process-wide) when it changes."""
    if _omp["threads"] != n:
        import faiss

        faiss.omp_set_num_threads(n)
        _omp["threads"] = n


def open_dense(generation: Generation) -> Any:
    """The generation's FAISS index, checked against its manifest."""
    manifest = generation.manifest
    path = generation.folder / DENSE
    try:
        index = read(path, IndexParams.from_dict(manifest.index_type))
    except (RuntimeError, OSError, KeyError) as exc:
        raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
    if index.ntotal != manifest.passages or index.d != manifest.dimension:
        raise StoreError(
            f"{path} holds {index.ntotal} vectors of dimension {index.d}; "
            f"expected {manifest.passages} of {manifest.dimension}",
            hint=REBUILD,
        )
    return index
