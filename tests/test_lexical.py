"""The numpy BM25 query path equals bm25s's own retrieve() (the oracle), without importing it."""

from __future__ import annotations

from pathlib import Path

import bm25s
import pytest
from bm25s.stopwords import STOPWORDS_EN

from conftest import ARTICLE
from kzqa import lexical

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
