"""`kzqa eval` on a hand-written BEIR-style fixture; the metrics against hand-computed values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kzqa.cli import app
from kzqa.config import Config
from kzqa.errors import UsageError
from kzqa.ops.evaluate import answer_hit, load_dataset, mrr, ndcg, recall, run_eval

TINY = Path(__file__).resolve().parent / "fixtures" / "beir-tiny"


def test_metrics_match_hand_computed_values() -> None:
    relevant = {"a": 1, "b": 1}
    ranked = ["x", "a", "y", "b"]
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg(ranked, relevant) == pytest.approx(expected)
    assert ndcg(["a", "b"], relevant) == pytest.approx(1.0)
    assert ndcg(["x"] * 10 + ["a"], relevant) == 0.0  # past the cutoff
    assert recall(ranked, relevant, 2) == 0.5
    assert recall(ranked, relevant, 10) == 1.0
    assert mrr(ranked, relevant) == 0.5
    assert mrr(["x"] * 10 + ["a"], relevant) == 0.0


def test_answer_hit_needs_half_the_gold_tokens() -> None:
    gold = ["more than 400,000 children were infected"]  # 6 tokens: 3 are enough
    assert answer_hit("In 2009, 400,000 children were born.", gold)
    assert not answer_hit("Many were infected.", gold)
    assert answer_hit("anything", ["no", "anything"])  # any of several gold answers


def test_load_dataset_keeps_judged_queries_and_positive_grades() -> None:
    data = load_dataset(TINY)
    assert data.name == "beir-tiny"
    assert len(data.corpus) == 6
    assert sorted(data.queries) == ["q1", "q2", "q3", "q4"]  # q5 has no judgement
    assert data.qrels["q4"] == {"d4": 1}  # the grade-0 row is not a relevant document
    assert data.answers["q3"] == ["The bacteria make lactic acid"]


def test_load_dataset_names_the_missing_file(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text("{}\n")
    with pytest.raises(UsageError, match="queries.jsonl is missing"):
        load_dataset(tmp_path)


def test_eval_scores_and_caches_the_index(tmp_path: Path, fake_embedder) -> None:
    cfg = Config(corpus=tmp_path / "unused", index=tmp_path / "unused-index")
    report = run_eval(cfg, TINY, "bm25", tmp_path / "eval", embedder=fake_embedder)
    assert report["dataset"] == "beir-tiny"
    assert report["queries"] == 4
    # Every query shares rare words with its one relevant document only.
    assert report["ndcg@10"] == 1.0
    assert report["mrr@10"] == 1.0
    assert report["recall@100"] == 1.0
    assert report["answer_queries"] == 4
    assert (tmp_path / "eval" / "corpus" / "d1.txt").read_text().startswith("Honey bees\n\n")
    embedded = len(fake_embedder.embedded)
    assert embedded > 6  # the passages, then the questions and answer sentences

    again = run_eval(cfg, TINY, "bm25", tmp_path / "eval", embedder=fake_embedder)
    assert again["ndcg@10"] == 1.0
    passages_again = [t for t in fake_embedder.embedded[embedded:] if "\n" in t]
    assert passages_again == []  # the cached index was reused: no document re-embedded


def test_answer_at_1_counts_gold_answers_in_the_top_passages_answer(
    tmp_path: Path, fake_embedder
) -> None:
    """Each document is one sentence, so its answer sentence is the whole document, whatever
    the sentence scoring; answer@1 then follows from the gold answers by hand."""
    data = tmp_path / "one-sentence"
    data.mkdir()
    docs = {
        "d1": "Narwhals grow a spiral tusk from their upper jaw.",
        "d2": "Saffron comes from the dried stigmas of crocus flowers.",
        "d3": "Basalt forms when lava cools quickly at the surface.",
        "d4": "Quokkas live on Rottnest Island near Perth.",
        "d5": "Origami folds paper into cranes without cutting it.",
        "d6": "Sundials tell the time from the shadow of a gnomon.",
    }
    queries = {
        "q1": "What do narwhals grow?",  # top d1, relevant; gold in d1: a hit
        "q2": "Where does saffron come from?",  # top d2, relevant; gold in d2: a hit
        "q3": "How does basalt form?",  # top d3, relevant; gold not in d3: a miss
        "q4": "Where do quokkas live?",  # top d4, relevant; no gold answer: not counted
        "q5": "How does origami fold paper?",  # top d5, but d6 is the relevant one: not counted
    }
    answers = {
        "q1": ["a spiral tusk"],
        "q2": ["dried stigmas of crocus flowers"],
        "q3": ["deep underground over millions of years"],
        "q5": ["folds paper into cranes"],
    }
    rows = [{"_id": d, "title": "", "text": t} for d, t in docs.items()]
    (data / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    (data / "answers.jsonl").write_text(
        "".join(json.dumps({"_id": q, "answers": a}) + "\n" for q, a in answers.items())
    )
    qrels = ["q1\td1\t1", "q2\td2\t1", "q3\td3\t1", "q4\td4\t1", "q5\td6\t1"]
    (data / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n")

    report = run_eval(Config(), data, "bm25", tmp_path / "eval", embedder=fake_embedder)
    assert report["mrr@10"] == pytest.approx(4 / 5)  # q5's relevant d6 shares no word: unranked
    assert report["answer_queries"] == 3  # q1, q2, q3
    assert report["answer@1"] == round(2 / 3, 4)


def test_eval_k_adds_metrics_at_k(tmp_path: Path, fake_embedder) -> None:
    report = run_eval(Config(), TINY, "bm25", tmp_path / "eval", k=1, embedder=fake_embedder)
    assert report["ndcg@1"] == 1.0 and report["recall@1"] == 1.0
    with pytest.raises(UsageError, match="-k must be between"):
        run_eval(Config(), TINY, "bm25", tmp_path / "eval", k=0, embedder=fake_embedder)


def test_eval_rejects_an_unknown_mode(tmp_path: Path, fake_embedder) -> None:
    with pytest.raises(UsageError, match="unknown mode"):
        run_eval(Config(), TINY, "sparse", tmp_path / "eval", embedder=fake_embedder)


@pytest.mark.slow
def test_eval_cli_json_with_the_real_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KZQA_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["eval", str(TINY), "--index", str(tmp_path / "ev"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("dataset", "queries", "ndcg@10", "recall@10", "recall@100", "mrr@10", "seconds"):
        assert key in report
    assert report["mode"] == "hybrid"
    assert report["queries"] == 4
    assert report["ndcg@10"] == 1.0
    assert report["answer@1"] == 1.0  # each gold answer is one short sentence of its passage

    text = CliRunner().invoke(app, ["eval", str(TINY), "--index", str(tmp_path / "ev")])
    assert text.exit_code == 0, text.output
    assert "nDCG@10     1.0000" in text.stdout


def test_eval_cli_exit_code_for_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--index", str(tmp_path / "ev")])
    assert result.exit_code == 2
    assert "not a BEIR-style dataset" in result.stderr


def test_eval_refuses_a_folder_it_did_not_write(tmp_path: Path, fake_embedder) -> None:
    project = tmp_path / "project"
    (project / "corpus").mkdir(parents=True)
    notes = project / "corpus" / "my-notes.txt"
    notes.write_text("Mine, not the dataset's.\n")
    with pytest.raises(UsageError, match="did not write"):
        run_eval(Config(), TINY, index_dir=project, embedder=fake_embedder)
    assert notes.read_text() == "Mine, not the dataset's.\n"
    assert sorted(p.name for p in project.rglob("*")) == ["corpus", "my-notes.txt"]
    # A folder eval made itself is its own to rewrite; so is a new one.
    first = run_eval(Config(), TINY, index_dir=tmp_path / "ev", embedder=fake_embedder)
    again = run_eval(Config(), TINY, index_dir=tmp_path / "ev", embedder=fake_embedder)
    assert again["ndcg@10"] == first["ndcg@10"]
    result = CliRunner().invoke(app, ["eval", str(TINY), "--index", str(project)])
    assert result.exit_code == 2 and "did not write" in result.stderr
    assert notes.is_file()
