"""Combine dense and BM25 candidate lists into one ranking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..records import Ranked, best_first

if TYPE_CHECKING:
    from ..config import Config

METHODS = ("convex", "zscore", "rrf")


def convex(dense: dict[int, float], bm25: dict[int, float], dense_weight: float) -> Ranked:
    """Weighted sum of per-query normalized scores over the union of candidates.

    `dense` must hold a dense score (Candidates.score_dense) for every candidate (the caller
    scores BM25-only candidates exactly); `bm25` holds scores for the passages BM25
    retrieved, others count as 0. Dense scores are min-max scaled over the candidates, BM25
    scores divided by the best one, so 1.0 is "the best either retriever found" and 0 is
    "no lexical match".
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
    return best_first(fused.items())


def zscore(
    dense: dict[int, float],
    bm25: dict[int, float],
    dense_weight: float,
    bm25_complete: bool = False,
) -> Ranked:
    """Weighted sum of scores standardized over the candidates (mean 0, deviation 1).

    A passage BM25 did not retrieve scores 0 when `bm25` holds every passage that matches
    (`bm25_complete`: BM25 found fewer than it was asked for), else the lowest BM25 score
    among the candidates (it may match, below the cut). Unlike min-max scaling, one outlier
    does not squash the other candidates together.
    """
    if not dense:
        return []
    floor = 0.0 if bm25_complete else min(bm25.values(), default=0.0)
    lexical = {i: bm25.get(i, floor) for i in dense}
    d_mean, d_sd = _mean_sd(dense.values())
    b_mean, b_sd = _mean_sd(lexical.values())
    fused = {
        i: dense_weight * (d - d_mean) / d_sd + (1 - dense_weight) * (lexical[i] - b_mean) / b_sd
        for i, d in dense.items()
    }
    return best_first(fused.items())


def _mean_sd(values: Iterable[float]) -> tuple[float, float]:
    xs = list(values)
    mean = sum(xs) / len(xs)
    sd = (sum((x - mean) ** 2 for x in xs) / len(xs)) ** 0.5
    return mean, sd or 1.0


def rrf(*rankings: Ranked, k: int = 60, weights: tuple[float, ...] | None = None) -> Ranked:
    """Reciprocal-rank fusion: sum of weight / (k + rank) over the rankings."""
    weights = weights or (1.0,) * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (i, _) in enumerate(ranking, 1):
            fused[i] = fused.get(i, 0.0) + weight / (k + rank)
    return best_first(fused.items())


def with_neighbours(ranked: Ranked, paths: Sequence[str], weight: float) -> Ranked:
    """Add weight x the better fused score of each passage's neighbours in the same file.

    An answer often spans a cut between passages, and a passage beside another good one is
    more likely the place a document treats the question. Scores are taken above the lowest
    candidate's, so a neighbour that is not a candidate adds nothing.
    """
    if not ranked or weight == 0:
        return ranked
    scores = dict(ranked)
    floor = min(scores.values())
    last = len(paths) - 1
    out = {}
    for i, score in scores.items():
        best = floor  # the better neighbour's score, if it is in the same file
        if i > 0 and paths[i - 1] == paths[i]:
            best = max(best, scores.get(i - 1, floor))
        if i < last and paths[i + 1] == paths[i]:
            best = max(best, scores.get(i + 1, floor))
        out[i] = score + weight * (best - floor)
    return best_first(out.items())


def fuse(
    dense: dict[int, float], bm25: dict[int, float], cfg: Config, bm25_complete: bool = False
) -> Ranked:
    """The hybrid ranking the config asks for (bm25_complete: see zscore)."""
    if cfg.fusion == "rrf":
        by_dense = best_first(dense.items())
        by_bm25 = best_first(bm25.items())
        return rrf(by_bm25, by_dense, k=cfg.rrf_k, weights=(1 - cfg.dense_weight, cfg.dense_weight))
    if cfg.fusion == "zscore":
        return zscore(dense, bm25, cfg.dense_weight, bm25_complete)
    return convex(dense, bm25, cfg.dense_weight)
