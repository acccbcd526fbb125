"""Fusion rules on hand-made candidate lists with known results, and their settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from kzqa.config import Config, load_config
from kzqa.errors import ConfigError
from kzqa.search import fusion


def test_convex_mixes_normalized_scores() -> None:
    dense = {1: 0.9, 2: 0.5, 3: 0.1}  # min-max: 1.0, 0.5, 0.0
    bm25 = {3: 10.0, 2: 5.0}  # over the best: 1.0, 0.5; passage 1 has no lexical match
    assert fusion.convex(dense, bm25, 1.0) == [(1, 1.0), (2, 0.5), (3, 0.0)]
    assert [i for i, _ in fusion.convex(dense, bm25, 0.0)] == [3, 2, 1]
    mixed = dict(fusion.convex(dense, bm25, 0.5))
    assert mixed == pytest.approx({1: 0.5, 2: 0.5, 3: 0.5})
    ranked = fusion.convex(dense, bm25, 0.5)
    assert [i for i, _ in ranked] == [1, 2, 3]  # ties broken by row, so runs are stable


def test_convex_without_candidates_is_empty() -> None:
    assert fusion.convex({}, {}, 0.5) == []


def test_zscore_standardizes_each_leg() -> None:
    dense = {1: 0.9, 2: 0.5, 3: 0.1}  # z: +1.2247, 0, -1.2247
    bm25 = {2: 6.0, 3: 2.0}  # passage 1 gets the floor (2.0): z -0.7071, +1.4142, -0.7071
    fused = dict(fusion.zscore(dense, bm25, 0.5))
    assert fused == pytest.approx({1: 0.2588, 2: 0.7071, 3: -0.9659}, abs=1e-4)
    assert [i for i, _ in fusion.zscore(dense, bm25, 0.5)] == [2, 1, 3]
    assert [i for i, _ in fusion.zscore(dense, bm25, 1.0)] == [1, 2, 3]
    assert fusion.zscore({}, {}, 0.5) == []
    assert fusion.zscore({4: 0.3}, {}, 0.5) == [(4, 0.0)]  # one candidate: no spread


def test_neighbours_in_the_same_file_lift_a_passage() -> None:
    files = [0, 0, 0, 1, 1]  # the file of each passage row
    ranked = [(4, 1.0), (1, 0.9), (2, 0.8), (3, 0.1)]  # row 0 is not a candidate
    lifted = dict(fusion.with_neighbours(ranked, files, 0.5))
    floor = 0.1
    assert lifted[1] == pytest.approx(0.9 + 0.5 * (0.8 - floor))  # beside row 2
    assert lifted[2] == pytest.approx(0.8 + 0.5 * (0.9 - floor))  # beside row 1 (3 is "b")
    assert lifted[4] == pytest.approx(1.0 + 0.5 * (0.1 - floor))  # its neighbour is the floor
    assert [i for i, _ in fusion.with_neighbours(ranked, files, 0.5)][:2] == [1, 2]
    assert fusion.with_neighbours(ranked, files, 0.0) == ranked


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    a = [(1, 9.0), (2, 8.0)]
    b = [(2, 0.9), (3, 0.8)]
    fused = dict(fusion.rrf(a, b, k=10, weights=(1.0, 0.5)))
    assert fused[1] == pytest.approx(1 / 11)
    assert fused[2] == pytest.approx(1 / 12 + 0.5 / 11)
    assert fused[3] == pytest.approx(0.5 / 12)
    assert [i for i, _ in fusion.rrf(a, b, k=10, weights=(1.0, 0.5))] == [2, 1, 3]


def test_fuse_follows_the_config() -> None:
    dense = {1: 0.9, 2: 0.2}
    bm25 = {2: 3.0}
    by_rrf = fusion.fuse(dense, bm25, Config(fusion="rrf", rrf_k=1, dense_weight=0.5))
    assert by_rrf == fusion.rrf([(2, 3.0)], [(1, 0.9), (2, 0.2)], k=1, weights=(0.5, 0.5))
    by_convex = fusion.fuse(dense, bm25, Config(fusion="convex", dense_weight=0.5))
    assert by_convex == fusion.convex(dense, bm25, 0.5)


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("search:\n  fusion: max\n", "search.fusion"),
        ("search:\n  min_score: -1\n", "search.min_score"),
        ("search:\n  neighbour_weight: 2\n", "search.neighbour_weight"),
        ("search:\n  rrf_k: 0\n", "search.rrf_k"),
        ("search:\n  dense_weight: 1.5\n", "search.dense_weight"),
        ("search:\n  sentence_weight: -1\n", "search.sentence_weight"),
    ],
)
def test_bad_fusion_settings_name_the_key(tmp_path: Path, yaml: str, message: str) -> None:
    path = tmp_path / "kzqa.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_fusion_settings_are_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kzqa.yaml"
    path.write_text("search:\n  fusion: rrf\n  rrf_k: 10\n")
    cfg = load_config(path)
    assert (cfg.fusion, cfg.rrf_k) == ("rrf", 10)


def test_a_lone_bm25_match_counts_when_bm25_found_every_match() -> None:
    # Only passage 3 holds the question's rare term; two others are a little closer in meaning.
    dense = {1: 0.60, 2: 0.58, 3: 0.57, 4: 0.30, 5: 0.20}
    bm25 = {3: 4.2}
    assert fusion.zscore(dense, bm25, 0.6, bm25_complete=True)[0][0] == 3
    # Cut off at the pool size, the unretrieved may match too: they get the lowest score seen.
    assert fusion.zscore(dense, bm25, 0.6)[0][0] == 1


@pytest.mark.parametrize("method", ["convex", "zscore", "rrf"])
def test_fuse_lifts_neighbours_as_with_neighbours_does(method: str) -> None:
    files = [0, 0, 0, 1, 1, 1, 2]
    dense = {0: 0.2, 1: 0.7, 2: 0.6, 3: 0.65, 5: 0.1, 6: 0.3}
    bm25 = {2: 5.0, 3: 1.0, 6: 2.0}
    cfg = Config(fusion=method, neighbour_weight=0.3)
    alone = fusion.with_neighbours(fusion.fuse(dense, bm25, cfg), files, 0.3)
    lifted = fusion.fuse(dense, bm25, cfg, files=files)
    assert [i for i, _ in lifted] == [i for i, _ in alone]
    assert [s for _, s in lifted] == pytest.approx([s for _, s in alone])
    assert dict(alone) != dict(fusion.fuse(dense, bm25, cfg))  # neighbours did lift scores
