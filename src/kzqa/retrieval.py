"""question -> ranked, cited hits: `kzqa ask`."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import fusion, store
from .answer import choose_answers
from .config import MODES, Config
from .corpus import FileEntry, read_document, scan_corpus
from .errors import CorpusError, StoreError, UsageError
from .lexical import content_stems
from .records import Answer, AskResult, Hit, Passage, Source, best_first

if TYPE_CHECKING:
    import numpy as np

Log = Callable[[str], None]
# Abstention (calibrated in bench/eval_abstain.py): a passage that holds the question's terms
# and is close in meaning is worth more than either alone.
COVERAGE_WEIGHT = 0.5


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def check_question(question: str, k: int) -> str:
    if not question or not question.strip():
        raise UsageError("the question is empty", hint='ask something: kzqa ask "…"')
    if k < 1:
        raise UsageError(f"-k must be at least 1, got {k}")
    return " ".join(question.split())


@dataclass(frozen=True)
class Changes:
    """What a cheap scan (stat only, no hashing) says moved since the index was built."""

    added: list[str]
    modified: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.removed)

    def summary(self) -> str:
        parts = [
            f"{len(v)} {name}"
            for name, v in (
                ("added", self.added),
                ("modified", self.modified),
                ("removed", self.removed),
            )
            if v
        ]
        return ", ".join(parts)


def corpus_changes(cfg: Config, manifest: store.Manifest) -> Changes:
    scan = scan_corpus(cfg.corpus, exclude=cfg.index)
    current = {e.path: e for e in scan.files}
    # Files read before but not indexable (binary, no text) are known too, until they change.
    known = {**manifest.skipped, **manifest.files}
    return Changes(
        added=sorted(p for p in current if p not in known),
        modified=sorted(
            p
            for p, e in current.items()
            if p in known and (known[p]["size"], known[p]["mtime_ns"]) != (e.size, e.mtime_ns)
        ),
        removed=sorted(p for p in manifest.files if p not in current),
    )


def confidence(question_terms: set[str], passage: str, cosine: float) -> float:
    """How sure we are that a passage answers: its cosine plus the question terms it holds.

    cosine + COVERAGE_WEIGHT x (share of the question's content terms found in the passage).
    Unlike the fused score (relative to the other candidates of the same question), it is
    comparable across questions, so one threshold (search.min_score) decides abstention.
    """
    if not question_terms:
        return cosine
    found = len(question_terms & content_stems(passage)) / len(question_terms)
    return cosine + COVERAGE_WEIGHT * found


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
    # Cosine of each candidate's best stored answer sentence (empty: the index stores none).
    sentence: dict[int, float] = field(default_factory=dict)
    # BM25 found fewer passages than asked for: those are all that match any question term.
    bm25_complete: bool = False

    def score_dense(self, sentence_weight: float) -> dict[int, float]:
        """The dense leg's score: the cosine plus sentence_weight x the best sentence's (the
        cosine alone when the index stores no sentence vectors)."""
        if not self.sentence or sentence_weight == 0:
            return self.dense
        return {i: d + sentence_weight * self.sentence[i] for i, d in self.dense.items()}


class Searcher:
    """An opened index plus the question encoder; answers many questions."""

    def __init__(self, cfg: Config, generation: store.Generation, encoder: Any = None) -> None:
        self.cfg = cfg
        self.generation = generation
        self.manifest = generation.manifest
        self.encoder = encoder if encoder is not None else self._open_encoder()

    @classmethod
    def open(cls, cfg: Config, encoder: Any = None) -> Searcher:
        generation = store.open_generation(cfg.index)
        if generation is None:
            raise StoreError(f"no index in {cfg.index}", hint="run `kzqa index`")
        return cls(cfg, generation, encoder)

    def _open_encoder(self) -> Any:
        from .embedding import (
            E5_MODEL,
            E5Embedder,
            OnnxEncoder,
            SentenceTransformerEmbedder,
            onnx_export_ok,
            resolve_model,
        )

        m = self.manifest
        if m.model == E5_MODEL:
            encoder: Any = E5Embedder()
        elif m.onnx and onnx_export_ok(self.cfg.index / m.onnx):
            try:
                encoder = OnnxEncoder(self.cfg.index / m.onnx)
            except Exception as exc:  # ONNX Runtime raises its own types for a bad file
                raise StoreError(
                    f"the question encoder in {self.cfg.index / m.onnx} is damaged",
                    hint="run `kzqa index` to export it again",
                ) from exc
        else:  # no export (or one from an older kzqa): the reference model still answers
            encoder = SentenceTransformerEmbedder(resolve_model(self.cfg.model))
        if encoder.fingerprint != m.model_fingerprint:
            raise StoreError(
                f"the index was built with model '{m.model}', but the question "
                f"encoder is '{encoder.name}'",
                hint="run `kzqa index`",
            )
        if self.cfg.model != m.model:
            raise StoreError(
                f"the index was built with model '{m.model}', the config says '{self.cfg.model}'",
                hint="run `kzqa index` to rebuild it",
            )
        return encoder

    def embed_questions(self, questions: Sequence[str]) -> np.ndarray:
        """Question vectors (e5 gives questions their own prefix; other models do not)."""
        embed = getattr(self.encoder, "embed_queries", self.encoder.embed)
        return embed(list(questions))

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
            dense = [dict(found) for found in gen.search_dense(qvecs, pool)]
        if mode in ("bm25", "hybrid"):
            bm25 = [dict(found) for found in gen.lexical.search_many(questions, pool)]
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
            if not all(math.isfinite(x) for x in (*d.values(), *sentence.values())):
                # Same-size garbage in vectors.npy or sentences.npy: only `verify` hashes them.
                raise StoreError(f"the vectors in {gen.folder} are damaged", hint=store.REBUILD)
            found.append(Candidates(d, b, sentence, mode != "dense" and len(b) < pool))
        return found

    def match_sentences(self, rows: list[int], qvec: np.ndarray) -> dict[int, float]:
        """Each row's best cosine among its stored sentence vectors ({}: none stored)."""
        import numpy as np

        stored = self.generation.sentence_rows
        if stored is None or not rows:
            return {}
        vectors, starts = stored
        at = np.asarray(rows)
        counts = starts[at + 1] - starts[at]  # >= 1: see Passage.sentence_spans
        firsts = np.cumsum(counts) - counts  # where each row's sentences begin in `picks`
        picks = np.arange(counts.sum()) + np.repeat(starts[at] - firsts, counts)
        cosines = np.asarray(vectors[picks], dtype=np.float32) @ qvec
        best = np.maximum.reduceat(cosines, firsts)
        return dict(zip(rows, best.tolist(), strict=True))

    def rank(self, found: Candidates, mode: str) -> fusion.Ranked:
        """One ranking from the candidates, as the mode and the fusion settings say."""
        dense = found.score_dense(self.cfg.sentence_weight)
        if mode == "dense":
            return best_first(dense.items())
        if mode == "bm25":
            return best_first(found.bm25.items())
        fused = fusion.fuse(dense, found.bm25, self.cfg, found.bm25_complete)
        return fusion.with_neighbours(fused, self.paths, self.cfg.neighbour_weight)

    def answers(self, question: str, qvec: np.ndarray, rows: Sequence[int]) -> list[Answer]:
        """The answer sentence of each passage row."""
        gen = self.generation
        return choose_answers(
            question,
            qvec,
            [gen.passages[i] for i in rows],
            self.encoder,
            [gen.sentence_vectors(i) for i in rows],
        )

    @cached_property
    def paths(self) -> list[str]:
        """The file of each passage row (rows of one file are consecutive, in file order)."""
        return [p.path for p in self.generation.passages]

    def rank_many(
        self, questions: Sequence[str], depth: int, mode: str | None = None
    ) -> list[fusion.Ranked]:
        """Ranked (passage row, score) lists for many questions at once (for `kzqa eval`)."""
        mode = check_mode(mode or self.cfg.mode)
        if not questions:
            return []
        qvecs = self.embed_questions(questions)
        pool = max(self.cfg.candidates, depth)
        return [self.rank(c, mode) for c in self.candidates(questions, qvecs, pool, mode)]

    def search(self, question: str, k: int, mode: str | None = None) -> AskResult:
        mode = check_mode(mode or self.cfg.mode)
        question = check_question(question, k)
        passages = self.generation.passages
        qvec = self.embed_question(question)
        pool = max(self.cfg.candidates, 4 * k)
        found = self.candidates([question], qvec[None, :], pool, mode)[0]
        dense, bm25 = found.dense, found.bm25
        chosen = self._distinct(question, qvec, self.rank(found, mode), k)
        checker = _SpanChecker(self.cfg.corpus)
        terms = content_stems(question)
        hits = []
        for row, score, answer in chosen:
            p = passages[row]
            cosine = dense.get(row, 0.0)
            evidence = {"dense": round(cosine, 4)}
            if row in bm25:
                evidence["bm25"] = round(bm25[row], 4)
            evidence["confidence"] = round(confidence(terms, p.text, cosine), 4)
            meta = self.manifest.files.get(p.path, {})
            source = Source(
                meta.get("title"),
                meta.get("published"),
                meta.get("kind", "text"),
                checker.verify(p),
            )
            hits.append(Hit(p, round(score, 4), answer, source, evidence))
        top = max((h.scores["confidence"] for h in hits[:1]), default=0.0)
        return AskResult(question, bool(hits) and top >= self.cfg.min_score, hits)

    def _distinct(
        self, question: str, qvec: np.ndarray, ranked: fusion.Ranked, k: int
    ) -> list[tuple[int, float, Answer]]:
        """The top k hits whose texts differ, each with its answer sentence.

        A caption printed twice makes two passages with the same text, or two passages whose
        best sentence is the same: the user sees it once.
        """
        passages = self.generation.passages
        out: list[tuple[int, float, Answer]] = []
        seen: set[str] = set()
        todo = iter(ranked)
        while len(out) < k:
            # Only as many passages as are still needed (an index without stored sentence
            # vectors embeds the sentences of each).
            batch: list[tuple[int, float]] = []
            for i, s in todo:
                if passages[i].hash not in seen and all(
                    passages[i].hash != passages[j].hash for j, _ in batch
                ):
                    batch.append((i, s))
                    if len(batch) == k - len(out):
                        break
            if not batch:
                break
            answers = self.answers(question, qvec, [i for i, _ in batch])
            for (i, score), answer in zip(batch, answers, strict=True):
                key = " ".join(answer.text.split())
                if passages[i].hash in seen or key in seen:
                    continue
                seen.update((passages[i].hash, key))
                out.append((i, score, answer))
                if len(out) == k:
                    break
        return out


class _SpanChecker:
    """Re-reads cited files so a hit whose file no longer holds its text is flagged."""

    def __init__(self, corpus: Path) -> None:
        self.corpus = corpus
        self.texts: dict[str, str | None] = {}

    def verify(self, p: Passage) -> bool:
        if p.path not in self.texts:
            path = self.corpus / p.path
            try:
                st = path.stat()
                doc, _ = read_document(FileEntry(p.path, path, st.st_size, st.st_mtime_ns))
            except OSError:
                doc = None
            self.texts[p.path] = doc.text if doc else None
        text = self.texts[p.path]
        return text is not None and text[p.start_char : p.end_char] == p.text


def ask(
    cfg: Config,
    question: str,
    k: int | None = None,
    mode: str | None = None,
    update: bool = True,
    log: Log = _stderr,
) -> AskResult:
    """Answer one question, building or refreshing the index first when needed."""
    return ask_many(cfg, [question], k, mode, update, log)[0]


def ask_many(
    cfg: Config,
    questions: list[str],
    k: int | None = None,
    mode: str | None = None,
    update: bool = True,
    log: Log = _stderr,
) -> list[AskResult]:
    k = cfg.k if k is None else k
    for q in questions[:1]:
        check_question(q, k)
    searcher = open_fresh(cfg, update, log)
    return [searcher.search(q, k, mode) for q in questions]


def open_fresh(cfg: Config, update: bool = True, log: Log = _stderr) -> Searcher:
    """Open the index, building it if there is none and refreshing it if the corpus moved."""
    from .errors import BusyError

    def build_index(cfg: Config, wait: float = 0) -> Any:
        from .build import build_index  # only when there is work: 10 ms of imports

        return build_index(cfg, wait=wait)

    manifest = store.read_manifest(cfg.index)
    if manifest is None:
        if not cfg.corpus.is_dir():
            raise CorpusError(
                f"corpus folder not found: {cfg.corpus}",
                hint="create it and add documents, or pass --corpus",
            )
        log(f"kzqa: no index in {cfg.index} yet; building it from {cfg.corpus}")
        report = build_index(cfg, wait=600)
        log(f"kzqa: indexed {report.documents} documents, {report.passages_total} passages")
        return Searcher.open(cfg)
    changes = None
    if cfg.corpus.is_dir():
        changes = corpus_changes(cfg, manifest)
    elif update:  # a mistyped --corpus must not pass for "nothing changed"
        raise CorpusError(
            f"corpus folder not found: {cfg.corpus}",
            hint="pass the right --corpus, or --no-update to answer from the index alone",
        )
    else:
        log(f"kzqa: warning: corpus folder not found: {cfg.corpus}; citations are not checked")
    if update and cfg.model != manifest.model:
        log(
            f"kzqa: the config names model '{cfg.model}', the index was built with "
            f"'{manifest.model}'; rebuilding"
        )
        build_index(cfg, wait=600)
    elif changes:
        if not update:
            log(
                f"kzqa: warning: the corpus changed since the index was built "
                f"({changes.summary()}); answering from the old index (run `kzqa index`)"
            )
        else:
            try:
                report = build_index(cfg)
                if report.committed:
                    log(
                        f"kzqa: corpus changed ({changes.summary()}); index updated "
                        f"({report.passages_embedded} passages embedded)"
                    )
            except BusyError:
                log("kzqa: another `kzqa index` is running; answering from the last complete index")
    return Searcher.open(cfg)
