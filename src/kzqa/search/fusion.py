"""Combine dense and BM25 candidate lists into one ranking.

The scores are combined as numpy arrays over the candidates, not as dicts in Python: a
server fuses a few hundred candidates for every answer (0.38 ms an answer with dicts, 0.25
with arrays, side by side in bench/perf/answer_cpu.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING

from ..records import Ranked, best_first

if TYPE_CHECKING:
    import numpy as np

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
    return rank_by_score(*_convex(dense, bm25, dense_weight))


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
    return rank_by_score(*_zscore(dense, bm25, dense_weight, bm25_complete))


def _convex(
    dense: dict[int, float], bm25: dict[int, float], dense_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates' rows and their convex() scores, unsorted."""
    rows, d, b = _scores_by_leg(dense, bm25, 0.0)
    if not len(rows):
        return rows, d
    span = float(d.max() - d.min()) or 1.0
    top_bm25 = max(bm25.values(), default=0.0) or 1.0
    return rows, dense_weight * (d - d.min()) / span + (1 - dense_weight) * b / top_bm25


def _zscore(
    dense: dict[int, float], bm25: dict[int, float], dense_weight: float, bm25_complete: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates' rows and their zscore() scores, unsorted."""
    floor = 0.0 if bm25_complete else min(bm25.values(), default=0.0)
    rows, d, b = _scores_by_leg(dense, bm25, floor)
    if not len(rows):
        return rows, d
    return rows, dense_weight * _standardize(d) + (1 - dense_weight) * _standardize(b)


def _scores_by_leg(
    dense: dict[int, float], bm25: dict[int, float], floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each candidate's row, dense score and BM25 score (floor: where BM25 did not find it)."""
    import numpy as np

    n = len(dense)
    rows = np.fromiter(dense, dtype=np.int64, count=n)
    d = np.fromiter(dense.values(), dtype=np.float64, count=n)
    b = np.fromiter(map(bm25.get, dense, repeat(floor)), dtype=np.float64, count=n)
    return rows, d, b


def _standardize(xs: np.ndarray) -> np.ndarray:
    """xs less their mean, over their deviation (1 when they do not spread)."""
    import numpy as np

    centred = xs - xs.mean()
    return centred / (float(np.sqrt((centred**2).mean())) or 1.0)


def rrf(*rankings: Ranked, k: int = 60, weights: tuple[float, ...] | None = None) -> Ranked:
    """Reciprocal-rank fusion: sum of weight / (k + rank) over the rankings."""
    weights = weights or (1.0,) * len(rankings)
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (i, _) in enumerate(ranking, 1):
            fused[i] = fused.get(i, 0.0) + weight / (k + rank)
    return best_first(fused.items())


def with_neighbours(ranked: Ranked, files: Sequence[object] | np.ndarray, weight: float) -> Ranked:
    """Add weight x the better fused score of each passage's neighbours in the same file.

    `files[row]` names the file of each passage row (any values equal within one file);
    `ranked` holds each row once, as every ranking does.
    An answer often spans a cut between passages, and a passage beside another good one is
    more likely the place a document treats the question. Scores are taken above the lowest
    candidate's, so a neighbour that is not a candidate adds nothing.
    """
    import numpy as np

    if not ranked or weight == 0:
        return ranked
    rows = np.fromiter((i for i, _ in ranked), dtype=np.int64, count=len(ranked))
    scores = np.fromiter((s for _, s in ranked), dtype=np.float64, count=len(ranked))
    return rank_by_score(rows, _lift_by_neighbours(rows, scores, np.asarray(files), weight))


def _lift_by_neighbours(
    rows: np.ndarray, scores: np.ndarray, files: np.ndarray, weight: float
) -> np.ndarray:
    """scores lifted as with_neighbours() says, for candidate rows that are each there once."""
    import numpy as np

    # Each candidate's neighbour (row - 1, then row + 1) is looked up among the candidates
    # sorted by row: searchsorted gives where it would be, and it is there when that slot
    # holds it. Rows past either end are clipped, then fail the equality test.
    order = np.argsort(rows)
    by_row, by_row_scores = rows[order], scores[order]
    floor = by_row_scores.min()
    best = np.full(len(rows), floor)
    last = len(files) - 1
    for step in (-1, 1):
        near = np.clip(rows + step, 0, last)
        at = np.minimum(np.searchsorted(by_row, near), len(rows) - 1)
        found = (by_row[at] == rows + step) & (files[near] == files[rows])
        best = np.maximum(best, np.where(found, by_row_scores[at], floor))
    return scores + weight * (best - floor)


def rank_by_score(rows: np.ndarray, scores: np.ndarray) -> Ranked:
    """(row, score) best first, ties by row: what records.best_first gives, sorted by numpy."""
    import numpy as np

    order = np.lexsort((rows, -scores))
    return list(zip(rows[order].tolist(), scores[order].tolist(), strict=True))


def fuse(
    dense: dict[int, float],
    bm25: dict[int, float],
    cfg: Config,
    bm25_complete: bool = False,
    files: np.ndarray | None = None,
) -> Ranked:
    """The hybrid ranking the config asks for (bm25_complete: see zscore), with each passage
    lifted by its neighbours (with_neighbours) when `files` names each row's file."""
    import numpy as np

    if cfg.fusion == "rrf":
        by_dense = best_first(dense.items())
        by_bm25 = best_first(bm25.items())
        fused = rrf(
            by_bm25, by_dense, k=cfg.rrf_k, weights=(1 - cfg.dense_weight, cfg.dense_weight)
        )
        return fused if files is None else with_neighbours(fused, files, cfg.neighbour_weight)
    if cfg.fusion == "zscore":
        rows, scores = _zscore(dense, bm25, cfg.dense_weight, bm25_complete)
    else:
        rows, scores = _convex(dense, bm25, cfg.dense_weight)
    if files is not None and len(rows) and cfg.neighbour_weight:
        scores = _lift_by_neighbours(rows, scores, np.asarray(files), cfg.neighbour_weight)
    return rank_by_score(rows, scores)
