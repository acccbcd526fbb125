"""FAISS vector search: exact while the corpus is small, HNSW beyond a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class IndexParams:
    kind: str  # "flat" (exact inner product) or "hnsw"
    m: int = 0
    ef_construction: int = 0
    ef_search: int = 0

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "flat":
            return {"kind": "flat"}
        return {
            "kind": self.kind,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IndexParams:
        return cls(
            raw["kind"], raw.get("m", 0), raw.get("ef_construction", 0), raw.get("ef_search", 0)
        )


def choose_params(
    n: int, threshold: int, m: int, ef_construction: int, ef_search: int
) -> IndexParams:
    if n < threshold:
        return IndexParams("flat")
    return IndexParams("hnsw", m, ef_construction, ef_search)


def build(vectors: np.ndarray, params: IndexParams) -> Any:
    """A FAISS index over normalized vectors, scored by inner product (= cosine)."""
    import faiss

    dim = vectors.shape[1]
    index: Any
    if params.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, params.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
        index.hnsw.efSearch = params.ef_search
    if len(vectors):
        index.add(vectors)
    return index


def write(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def read(path: Path, params: IndexParams) -> Any:
    import faiss

    index: Any = faiss.read_index(str(path))
    if params.kind == "hnsw":
        index = faiss.downcast_index(index)
        index.hnsw.efSearch = params.ef_search
    return index


def search(index: Any, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Top-k (passage row, cosine) per query, best first."""
    k = min(k, index.ntotal)
    if k <= 0:
        return [[] for _ in range(len(queries))]
    scores, ids = index.search(queries, k)
    return [
        [(int(i), float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0]
        for row_ids, row_scores in zip(ids, scores, strict=True)
    ]
