"""bench/harness.py: its scorer against hand-computed values, and its rows against `kzqa eval`
and `kzqa ask` on the tiny BEIR fixture (with the fake embedder: fast)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from kzqa.config import Config
from kzqa.ops.evaluate import Dataset, load_dataset, run_eval

ROOT = Path(__file__).resolve().parent.parent
TINY = Path(__file__).resolve().parent / "fixtures" / "beir-tiny"


def _load_harness():
    spec = importlib.util.spec_from_file_location("harness", ROOT / "bench" / "harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


def hand_dataset() -> Dataset:
    """Four queries in file order q1..q4; q2 has two relevant documents."""
    qrels = {"q1": {"a": 1}, "q2": {"b": 1, "c": 1}, "q3": {"d": 1}, "q4": {"e": 1}}
    queries = {q: f"question {q}" for q in qrels}
    return Dataset("hand", TINY, {}, queries, qrels, {})


def test_scores_per_half_match_hand_computed_values() -> None:
    runs = {
        "q1": ["a", "x"],  # relevant first: nDCG 1, MRR 1
        "q2": ["x", "b"] + [f"y{i}" for i in range(20)] + ["c"],  # b 2nd; c 23rd
        "q3": ["x"] * 10 + ["d"],  # past the cutoff: nDCG@10 0, found by Recall@100
        "q4": ["x", "y", "e"],  # 3rd
    }
    scores = harness.score_halves(runs, hand_dataset())
    ndcg_q2 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))  # one of two relevant, at rank 2
    ndcg_q4 = 1 / math.log2(4)  # 0.5
    assert scores["ndcg@10 even"] == pytest.approx((1 + 0) / 2)  # q1, q3
    assert scores["ndcg@10 odd"] == pytest.approx((ndcg_q2 + ndcg_q4) / 2)  # q2, q4
    assert scores["ndcg@10"] == pytest.approx((1 + ndcg_q2 + 0 + ndcg_q4) / 4)
    assert scores["recall@10"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert scores["recall@100"] == pytest.approx(1.0)
    assert scores["mrr@10"] == pytest.approx((1 + 1 / 2 + 0 + 1 / 3) / 4)


def test_halves_keep_file_order() -> None:
    assert harness.halves(["q1", "q2", "q3", "q4", "q5"]) == {
        "even": ["q1", "q3", "q5"],
        "odd": ["q2", "q4"],
        "all": ["q1", "q2", "q3", "q4", "q5"],
    }


def test_abstention_precision_recall_and_tuned_threshold() -> None:
    rows = [(0.9, True), (0.7, True), (0.4, True), (0.6, False), (0.3, False)]
    # At 0.5: answered 0.9, 0.7 (own) and 0.6 (off-topic); 2 of 3 own questions answered.
    p, r, f1 = harness.prf(rows, 0.5)
    assert (p, r) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert f1 == pytest.approx(2 / 3)
    assert harness.prf(rows, 0.95) == (1.0, 0.0, 0.0)  # nothing answered
    # F1 per candidate: 0.3 -> 0.75, 0.4 -> 0.857, 0.6 -> 0.667, 0.7 -> 0.8, 0.9 -> 0.5
    assert harness.tune_threshold(rows) == 0.4

    row = harness.Row(
        "hand",
        harness.Variant("default", Config()),
        {},
        0.0,
        own=[0.9, 0.4, 0.7, 0.45],  # even: 0.9, 0.7; odd: 0.4, 0.45
        offtopic=[0.2, 0.55, 0.6],  # even: 0.2, 0.6; odd: 0.55
        other=[0.8],
    )
    a = row.abstention()
    assert (a["precision"], a["recall"]) == (pytest.approx(2 / 4), pytest.approx(2 / 4))
    assert a["precision with other"] == pytest.approx(2 / 5)
    assert a["tuned"] == 0.7  # on the even half: 0.7 answers both own and no off-topic
    assert (a["odd precision"], a["odd recall"], a["odd f1"]) == (1.0, 0.0, 0.0)


def test_variants_are_config_files() -> None:
    assert harness.load_variant("default").cfg == Config()
    rrf = harness.load_variant("rrf")
    assert rrf.path == ROOT / "bench" / "configs" / "rrf.yaml"
    assert (rrf.cfg.fusion, rrf.cfg.rrf_k) == ("rrf", 60)
    assert harness.load_variant("bm25").cfg.mode == "bm25"
    with pytest.raises(SystemExit, match="no variant 'nope'"):
        harness.load_variant("nope")
    for path in (ROOT / "bench" / "configs").glob("*.yaml"):  # every one is a valid config
        assert harness.load_variant(str(path)).name == path.stem


def test_default_row_equals_kzqa_eval(tmp_path: Path, fake_embedder) -> None:
    bench = harness.Bench([TINY], tmp_path / "indexes", fake_embedder)
    (data,) = bench.datasets
    for name, mode in (("default", "hybrid"), ("bm25", "bm25"), ("dense", "dense")):
        row = bench.run(data, harness.load_variant(name))
        index = tmp_path / "indexes" / next((tmp_path / "indexes").iterdir()).name
        report = run_eval(Config(), TINY, mode, index, embedder=fake_embedder)
        for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10", "answer@1"):
            assert round(row.scores[metric], 4) == report[metric], (name, metric)


def test_abstention_agrees_with_kzqa_ask(tmp_path: Path, fake_embedder) -> None:
    bench = harness.Bench([TINY], tmp_path / "indexes", fake_embedder)
    (data,) = bench.datasets
    searcher, _ = bench.searcher(data, Config())
    questions = [*data.queries.values(), *bench.offtopic[:8]]
    confidences = harness.top_confidences(searcher, questions, "hybrid")
    for question, conf in zip(questions, confidences, strict=True):
        result = searcher.search(question, Config().k)
        assert result.hits[0].scores["confidence"] == round(conf, 4), question
        assert result.answered == (conf >= Config().min_score), question


def test_main_prints_variants_side_by_side(tmp_path: Path, fake_embedder, capsys) -> None:
    other = tmp_path / "tiny-copy"  # a second dataset: the mean table and hard negatives
    other.mkdir()
    for f in TINY.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    with (other / "corpus.jsonl").open("a") as fh:  # other documents: hard negatives
        fh.write('{"_id": "d7", "title": "Tea", "text": "Green tea is steamed, not fermented."}\n')
    argv = [str(TINY), str(other), "-c", "default", "bm25", "--index-root", str(tmp_path / "i")]
    rows = harness.main(argv, embedder=fake_embedder)
    assert [(r.dataset, r.variant.name) for r in rows] == [
        ("beir-tiny", "default"),
        ("beir-tiny", "bm25"),
        ("tiny-copy", "default"),
        ("tiny-copy", "bm25"),
    ]
    assert len(rows[0].other) == len(load_dataset(other).queries)
    out = capsys.readouterr().out
    assert "| beir-tiny | bm25 | 1.0000 | 1.0000 | 1.0000 |" in out
    assert "### Mean over the datasets" in out
    assert out.count("| tiny-copy |") == 4  # a retrieval and an abstention row per variant
