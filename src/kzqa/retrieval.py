"""question -> ranked, cited hits: `kzqa ask`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import ann, fusion, store
from .answer import choose_answers
from .config import MODES, Config
from .corpus import FileEntry, read_document, scan_corpus
from .errors import CorpusError, StoreError, UsageError
from .records import Answer, AskResult, Hit, Passage, Source

if TYPE_CHECKING:
    import numpy as np

Log = Callable[[str], None]


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
    known = manifest.files
    return Changes(
        added=sorted(p for p in current if p not in known),
        modified=sorted(
            p
            for p, e in current.items()
            if p in known and (known[p]["size"], known[p]["mtime_ns"]) != (e.size, e.mtime_ns)
        ),
        removed=sorted(p for p in known if p not in current),
    )


class Searcher:
    """An opened index plus the question encoder; answers many questions."""

    def __init__(self, cfg: Config, generation: store.Generation, encoder: Any = None) -> None:
        self.cfg = cfg
        self.generation = generation
        self.manifest = generation.manifest
        self.encoder = encoder or self._open_encoder()

    @classmethod
    def open(cls, cfg: Config) -> Searcher:
        generation = store.open_generation(cfg.index)
        if generation is None:
            raise StoreError(f"no index in {cfg.index}", hint="run `kzqa index`")
        return cls(cfg, generation)

    def _open_encoder(self) -> Any:
        from .embedding import OnnxEncoder, SentenceTransformerEmbedder, resolve_model

        m = self.manifest
        if m.onnx and (self.cfg.index / m.onnx / "onnx.json").is_file():
            encoder: Any = OnnxEncoder(self.cfg.index / m.onnx)
        else:  # an index built without the export: the reference model still answers
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

    def embed_question(self, question: str) -> np.ndarray:
        return self.encoder.embed([question])[0]

    def search(self, question: str, k: int, mode: str | None = None) -> AskResult:
        mode = mode or self.cfg.mode
        if mode not in MODES:
            raise UsageError(f"unknown mode '{mode}' (choose {', '.join(MODES)})")
        question = check_question(question, k)
        gen = self.generation
        passages = gen.passages
        qvec = self.embed_question(question)
        pool = max(self.cfg.candidates, 4 * k)
        dense: dict[int, float] = {}
        bm25: dict[int, float] = {}
        if mode in ("dense", "hybrid"):
            dense = dict(ann.search(gen.dense, qvec[None, :], pool)[0])
        if mode in ("bm25", "hybrid"):
            bm25 = dict(gen.lexical.search(question, pool))
        # Exact cosines for every candidate: for the fused ranking, and for abstention.
        for i in bm25:
            if i not in dense:
                dense[i] = float(gen.vectors[i] @ qvec)
        if mode == "dense":
            ranked = sorted(dense.items(), key=lambda item: (-item[1], item[0]))
        elif mode == "bm25":
            ranked = sorted(bm25.items(), key=lambda item: (-item[1], item[0]))
        else:
            ranked = fusion.convex(dense, bm25, self.cfg.dense_weight)
        chosen = self._distinct(question, qvec, ranked, k)
        checker = _SpanChecker(self.cfg.corpus)
        hits = []
        for row, score, answer in chosen:
            p = passages[row]
            evidence = {"dense": round(dense.get(row, 0.0), 4)}
            if row in bm25:
                evidence["bm25"] = round(bm25[row], 4)
            meta = self.manifest.files.get(p.path, {})
            source = Source(
                meta.get("title"),
                meta.get("published"),
                meta.get("kind", "text"),
                checker.verify(p),
            )
            hits.append(Hit(p, round(score, 4), answer, source, evidence))
        top_cosine = max((h.scores["dense"] for h in hits[:1]), default=0.0)
        return AskResult(question, bool(hits) and top_cosine >= self.cfg.min_score, hits)

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
        start = 0
        while len(out) < k and start < len(ranked):
            batch = [
                (i, s) for i, s in ranked[start : start + 2 * k] if passages[i].hash not in seen
            ]
            start += 2 * k
            answers = choose_answers(question, qvec, [passages[i] for i, _ in batch], self.encoder)
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
    from .build import build_index
    from .errors import BusyError

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
    changes = corpus_changes(cfg, manifest) if cfg.corpus.is_dir() else None
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
