"""Combine dense and BM25 candidate lists into one ranking."""

from __future__ import annotations

Ranked = list[tuple[int, float]]  # (passage row, score), best first


def convex(dense: dict[int, float], bm25: dict[int, float], dense_weight: float) -> Ranked:
    """Weighted sum of per-query normalized scores over the union of candidates.

    `dense` must hold a cosine for every candidate (the caller scores BM25-only candidates
    exactly); `bm25` holds scores for the passages BM25 retrieved, others count as 0.
    Cosines are min-max scaled over the candidates, BM25 scores divided by the best one,
    so 1.0 is "the best either retriever found" and 0 is "no lexical match".
    """
    if not dense:
        return []
    lo, hi = min(dense.values()), max(dense.values())
    span = hi - lo or 1.0
    top_bm25 = max(bm25.values(), default=0.0) or 1.0
    fused = {
        i: dense_weight * (d - lo) / span + (1 - dense_weight) * bm25.get(i, 0.0) / top_bm25
        for i, d in dense.items()
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def rrf(*rankings: Ranked, k: int = 60, weights: tuple[float, ...] | None = None) -> Ranked:
    """Reciprocal-rank fusion: sum of weight / (k + rank) over the rankings."""
    weights = weights or (1.0,) * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (i, _) in enumerate(ranking, 1):
            fused[i] = fused.get(i, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
