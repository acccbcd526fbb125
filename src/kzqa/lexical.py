"""BM25 over passages (bm25s, Snowball stemming, English stopwords)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGE = "english"
_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer(LANGUAGE)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def content_stems(text: str) -> set[str]:
    """Stemmed words of text without stopwords, as BM25 sees them."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _stopwords()]
    return set(_stemmer().stemWords(words))


def tokenize(texts: Sequence[str]) -> Any:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False)


def build(texts: Sequence[str], folder: Path) -> None:
    """Index passage texts (row i = passage i) and save into folder (numpy + JSON, no pickle)."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(tokenize(texts), show_progress=False)
    retriever.save(str(folder), show_progress=False)


class Lexical:
    def __init__(self, folder: Path) -> None:
        import bm25s

        self.retriever = bm25s.BM25.load(str(folder), mmap=False, show_progress=False)
        self.size = int(self.retriever.scores["num_docs"])

    def search(self, question: str, k: int) -> list[tuple[int, float]]:
        """Top-k (passage row, BM25 score) with a positive score, best first."""
        import bm25s

        k = min(k, self.size)
        query = bm25s.tokenize(
            [question], stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=False
        )[0]
        # Terms the corpus never saw would make bm25s fail; they score zero anyway.
        query = [t for t in query if t in self.retriever.vocab_dict]
        if not query or k <= 0:
            return []
        ids, scores = self.retriever.retrieve([query], k=k, show_progress=False)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]
