"""The dense leg's best-sentence evidence (search.sentence_weight)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kzqa.config import load_config
from kzqa.search import fusion
from kzqa.search.searcher import Candidates, Searcher

QUESTION = "Where was the Study in Kazakhstan education fair held?"


def test_the_dense_score_adds_the_best_sentence_cosine() -> None:
    found = Candidates({1: 0.5, 2: 0.4}, {}, {1: 0.2, 2: 0.9})
    assert found.score_dense(0.5) == pytest.approx({1: 0.6, 2: 0.85})
    assert found.score_dense(0.0) == {1: 0.5, 2: 0.4}
    assert Candidates({1: 0.5}, {}).score_dense(0.5) == {1: 0.5}  # no sentence vectors


def test_best_sentences_are_the_max_of_the_stored_sentence_cosines(real_project: Path) -> None:
    searcher = Searcher.open(load_config())
    gen = searcher.generation
    qvec = searcher.embed_question(QUESTION)
    rows = list(range(len(gen.passages)))[::-1]  # any order
    best = searcher.match_sentences(rows, qvec)
    assert sorted(best) == sorted(rows)
    assert gen.sentence_rows is not None
    vectors = np.asarray(gen.sentence_rows[0], dtype=np.float32)
    first = 0  # each passage's sentences, counted here from its spans
    for row, p in enumerate(gen.passages):
        mine = vectors[first : first + len(p.sentence_spans())]
        first += len(p.sentence_spans())
        assert best[row] == pytest.approx(float((mine @ qvec).max()), abs=1e-6)
    assert first == len(vectors)
    # The max is over several sentences somewhere, not only one-sentence passages.
    assert any(len(gen.sentence_vectors(r)) > 1 for r in rows)


def test_the_sentence_evidence_reorders_only_the_dense_leg(real_project: Path) -> None:
    cfg = load_config()
    searcher = Searcher.open(cfg)
    qvec = searcher.embed_question(QUESTION)
    found = searcher.candidates([QUESTION], qvec[None, :], 100, "hybrid")[0]
    assert found.sentence and set(found.sentence) == set(found.dense)
    off = Searcher(replace(cfg, sentence_weight=0.0), searcher.generation, searcher.encoder)
    assert off.candidates([QUESTION], qvec[None, :], 100, "hybrid")[0].sentence == {}
    by_cosine = [row for row, _ in off.rank(found, "dense")]
    with_sentences = [row for row, _ in searcher.rank(found, "dense")]
    combined = {i: d + cfg.sentence_weight * found.sentence[i] for i, d in found.dense.items()}
    assert with_sentences == sorted(combined, key=lambda i: (-combined[i], i))
    assert by_cosine == sorted(found.dense, key=lambda i: (-found.dense[i], i))
    assert with_sentences != by_cosine  # the article's passages are uneven enough to move
    # The JSON evidence stays the passage's cosine, whatever the weight.
    hit = searcher.search(QUESTION, 1).hits[0]
    row = searcher.generation.passages.index(hit.passage)
    assert hit.scores["dense"] == pytest.approx(found.dense[row], abs=1e-4)


def test_the_hybrid_ranking_fuses_the_dense_score(real_project: Path) -> None:
    cfg = load_config()
    searcher = Searcher.open(cfg)
    qvec = searcher.embed_question(QUESTION)
    found = searcher.candidates([QUESTION], qvec[None, :], 100, "hybrid")[0]
    dense = found.score_dense(cfg.sentence_weight)
    expected = fusion.with_neighbours(
        fusion.fuse(dense, found.bm25, cfg), searcher.paths, cfg.neighbour_weight
    )
    assert searcher.rank(found, "hybrid") == expected
    off = Searcher(replace(cfg, sentence_weight=0.0), searcher.generation, searcher.encoder)
    assert off.rank(found, "hybrid") != expected
