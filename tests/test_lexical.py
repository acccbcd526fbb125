"""The numpy BM25 query path equals bm25s's own retrieve() (the oracle), without importing it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import bm25s
import pytest
from bm25s.stopwords import STOPWORDS_EN

from conftest import ARTICLE, FakeEmbedder
from kzqa import store
from kzqa.build import build_index
from kzqa.config import load_config
from kzqa.search import lexical
from kzqa.search.searcher import Searcher

QUESTIONS = [
    "How many Luban Workshops has Kazakhstan hosted?",
    "Where was the Study in Kazakhstan education fair held?",
    "the the Kazakhstan Kazakhstan China",  # repeated terms count twice, as in bm25s
    "dual-degree programmes with India and Uzbekistan",
    "zzzz unknownword",  # nothing matches
    "of the and",  # stopwords only
]


@pytest.fixture(scope="module")
def passages() -> list[str]:
    text = ARTICLE.read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def test_stopwords_and_tokens_match_bm25s(passages: list[str]) -> None:
    assert lexical.STOPWORDS == frozenset(STOPWORDS_EN)
    ours = lexical.tokenize_queries(passages + QUESTIONS)
    theirs = bm25s.tokenize(
        passages + QUESTIONS,
        stopwords="en",
        stemmer=lexical._stemmer(),
        show_progress=False,
        return_ids=False,
    )
    assert ours == [list(t) for t in theirs]


def test_search_equals_bm25s_retrieve(passages: list[str], tmp_path: Path) -> None:
    lexical.build(passages, tmp_path)
    ours = lexical.Lexical(tmp_path)
    oracle = bm25s.BM25.load(str(tmp_path), show_progress=False)
    for question, found in zip(QUESTIONS, ours.search_many(QUESTIONS, 5), strict=True):
        terms = [t for t in lexical.tokenize_queries([question])[0] if t in oracle.vocab_dict]
        if not terms:
            assert found == []
            continue
        ids, scores = oracle.retrieve([terms], k=5, show_progress=False)
        expected = sorted(
            ((int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0),
            key=lambda item: (-item[1], item[0]),
        )
        assert [i for i, _ in found] == [i for i, _ in expected]
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-5)
    assert ours.search("Luban Workshops", 100)[0][0] in {
        i for i, p in enumerate(passages) if "Luban" in p
    }


def test_a_passage_is_found_by_its_documents_title(
    project: Path, fake_embedder: FakeEmbedder
) -> None:
    """BM25 reads each passage with its file's title: a passage that never names the
    subject is still found by it, and its citation is still the passage alone."""
    corpus = project / "corpus"
    for name in corpus.iterdir():
        name.unlink()
    filler = " ".join(f"Sentence {n} says nothing much about the matter." for n in range(12))
    (corpus / "glacier.md").write_text(
        f"# Glacier survey\n\n{filler}\n\nThe budget doubled in the second year.\n",
        encoding="utf-8",
    )
    (corpus / "roads.md").write_text(
        f"# Road repairs\n\n{filler}\n\nThe budget doubled in the second year.\n",
        encoding="utf-8",
    )
    cfg = replace(load_config(None, corpus, project / "index"), pack_tokens=20, min_tokens=1)
    build_index(cfg, embedder=fake_embedder)
    gen = store.open_generation(cfg.index)
    assert gen is not None and lexical.params_match(gen.folder / store.BM25)
    result = Searcher.open(cfg, encoder=fake_embedder).search("glacier budget", 2, mode="bm25")
    top = result.hits[0].passage
    assert top.path == "glacier.md"
    assert top.text == "The budget doubled in the second year."
    text = (corpus / "glacier.md").read_text(encoding="utf-8")
    assert text[top.start_char : top.end_char] == top.text


def test_changed_bm25_settings_rebuild_bm25_not_vectors(
    project: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(None, project / "corpus", project / "index")
    build_index(cfg, embedder=fake_embedder)
    monkeypatch.setattr(lexical, "FIELDS", "text")
    gen = store.open_generation(cfg.index)
    assert gen is not None and not lexical.params_match(gen.folder / store.BM25)
    report = build_index(cfg, embedder=fake_embedder)
    assert report.committed and report.passages_embedded == 0
    gen = store.open_generation(cfg.index)
    assert gen is not None and lexical.params_match(gen.folder / store.BM25)
