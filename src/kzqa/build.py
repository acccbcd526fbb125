"""corpus -> index: `kzqa index`. Incremental, resumable, and atomic (see store.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import ann, lexical, store
from .chunking import CHUNKER_VERSION, ChunkSettings, chunk_document
from .config import Config
from .corpus import FileEntry, Scan, read_document, scan_corpus
from .embedding import Embedder, onnx_damage, onnx_export_ok, open_embedder
from .errors import CorpusError
from .journal import JournalWriter, journal_path, read_journal
from .records import Passage

if TYPE_CHECKING:
    import numpy as np

ProgressFactory = Callable[[int], Callable[[int], None]]  # total -> advance(n)


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)  # read, not indexable
    passages_embedded: int = 0
    passages_reused: int = 0
    passages_total: int = 0
    documents: int = 0
    rebuilt: str | None = None  # why everything was rebuilt, if it was
    committed: bool = False  # a new generation was written
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "renamed": [{"from": a, "to": b} for a, b in self.renamed],
            "skipped": sorted(self.skipped),
            "passages_embedded": self.passages_embedded,
            "passages_reused": self.passages_reused,
            "passages_total": self.passages_total,
            "documents": self.documents,
            "rebuilt": self.rebuilt,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
        }


def chunk_settings(cfg: Config) -> ChunkSettings:
    return ChunkSettings(cfg.max_tokens, cfg.pack_tokens, cfg.min_tokens)


def index_fingerprint(model_fingerprint: str, settings: ChunkSettings) -> str:
    raw = json.dumps([model_fingerprint, asdict(settings), CHUNKER_VERSION], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def default_embedder(cfg: Config) -> Embedder:
    """The configured model; through its ONNX export when an earlier build wrote one."""
    embedder = open_embedder(cfg.model, batch_size=cfg.batch_size)
    folder = cfg.index / "onnx" / embedder.fingerprint
    use_onnx = getattr(embedder, "use_onnx", None)
    if use_onnx is not None and onnx_export_ok(folder):
        try:
            use_onnx(folder)
        except Exception:  # a damaged export: torch embeds, and the build exports it again
            shutil.rmtree(folder, ignore_errors=True)
    return embedder


def build_index(
    cfg: Config,
    *,
    full: bool = False,
    embedder: Embedder | None = None,
    progress: ProgressFactory | None = None,
    wait: float = 0,
) -> BuildReport:
    """Bring the index in line with the corpus, embedding only passages it has never seen."""
    started = time.perf_counter()
    scan = scan_corpus(cfg.corpus, exclude=cfg.index)
    if not scan.files:
        raise CorpusError(f"no documents in {cfg.corpus}", hint="add .txt, .md or .html files")
    if full:  # a full build also redoes a question encoder whose files are damaged
        folder = cfg.index / "onnx"
        for export in folder.iterdir() if folder.is_dir() else ():
            if onnx_damage(export):
                shutil.rmtree(export, ignore_errors=True)
    embedder = embedder or default_embedder(cfg)
    with store.write_lock(cfg.index, wait=wait):
        report = _build_locked(cfg, scan, embedder, full, progress)
    report.seconds = time.perf_counter() - started
    return report


def _build_locked(
    cfg: Config, scan: Scan, embedder: Embedder, full: bool, progress: ProgressFactory | None
) -> BuildReport:
    settings = chunk_settings(cfg)
    fingerprint = index_fingerprint(embedder.fingerprint, settings)
    report = BuildReport(warnings=list(scan.warnings))
    previous, report.rebuilt = _previous(
        cfg.index, fingerprint, embedder.fingerprint, full, hasattr(embedder, "embed_passages")
    )
    rechunk = report.rebuilt is not None

    old_files = previous.manifest.files if previous else {}
    files, passages = _diff_corpus(scan, previous, embedder, settings, report, rechunk)
    if not files:
        raise CorpusError(
            f"no readable documents in {cfg.corpus}", hint="; ".join(report.warnings[:3]) or None
        )

    nothing_changed = (
        previous is not None
        and not report.rebuilt
        and not report.added
        and not report.changed
        and not report.removed
        and not report.renamed
        # BM25 settings changed: write a new generation (vectors are reused, not re-embedded)
        and lexical.params_match(previous.folder / store.BM25)
    )
    if nothing_changed:
        assert previous is not None
        onnx = _ensure_onnx(cfg.index, embedder)
        # Only stat data (or the encoder) moved: record it so staleness checks stay cheap.
        if (files, onnx, report.skipped) != (
            old_files,
            previous.manifest.onnx,
            previous.manifest.skipped,
        ):
            previous.manifest.files, previous.manifest.onnx = files, onnx
            previous.manifest.skipped = report.skipped
            store.write_text_atomic(cfg.index / store.MANIFEST, previous.manifest.to_json())
        return report

    vectors, sentences = _vectors_for(cfg.index, passages, previous, embedder, report, progress)
    name = _commit_generation(
        cfg, embedder, settings, fingerprint, passages, vectors, sentences, files, report.skipped
    )
    report.committed = True
    journal_path(cfg.index, embedder.fingerprint).unlink(missing_ok=True)
    store.prune(cfg.index, name)
    return report


def _diff_corpus(
    scan: Scan,
    previous: store.Generation | None,
    embedder: Embedder,
    settings: ChunkSettings,
    report: BuildReport,
    rechunk: bool = False,
) -> tuple[dict[str, dict[str, Any]], list[Passage]]:
    """The new manifest's files and passages; only new or edited files are read and chunked
    (all of them when `rechunk`, after a chunking change).

    Fills the report's added / changed / removed / unchanged / renamed lists.
    """
    old_files = previous.manifest.files if previous else {}
    old_by_path: dict[str, list[Passage]] = {}
    if previous:
        for p in previous.passages:
            old_by_path.setdefault(p.path, []).append(p)
    seen = {e.path for e in scan.files}
    removed_by_hash = {meta["sha256"]: path for path, meta in old_files.items() if path not in seen}

    old_skipped = previous.manifest.skipped if previous else {}
    files: dict[str, dict[str, Any]] = {}
    passages: list[Passage] = []
    for entry in scan.files:
        known = old_skipped.get(entry.path)
        if known and (known["size"], known["mtime_ns"]) == (entry.size, entry.mtime_ns):
            report.skipped[entry.path] = known  # still the file that was skipped: not again
            continue
        old = old_files.get(entry.path)
        same_stat = old is not None and (old["size"], old["mtime_ns"]) == (
            entry.size,
            entry.mtime_ns,
        )
        if old is not None and same_stat and not rechunk:
            files[entry.path] = dict(old)
            passages += old_by_path.get(entry.path, [])
            report.unchanged.append(entry.path)
            continue
        doc, warnings = read_document(entry)
        report.warnings += warnings
        if doc is None:
            report.skipped[entry.path] = {
                "size": entry.size,
                "mtime_ns": entry.mtime_ns,
                "reason": warnings[-1] if warnings else "unreadable",
            }
            continue
        meta = _file_meta(entry, doc.sha256, doc.kind, doc.title, doc.published)
        chunks = chunk_document(doc, embedder.count_tokens, settings) if rechunk else None
        if old and old["sha256"] == doc.sha256:  # touched, not edited
            files[entry.path] = {**old, **meta}
            passages += chunks if chunks is not None else old_by_path.get(entry.path, [])
            report.unchanged.append(entry.path)
            continue
        moved_from = None if old else removed_by_hash.get(doc.sha256)
        if moved_from is not None and old_files[moved_from]["kind"] != doc.kind:
            moved_from = None  # page.html -> page.txt: same bytes, other text; re-chunk
        if moved_from is not None:
            del removed_by_hash[doc.sha256]
        if moved_from is not None:
            files[entry.path] = {**old_files[moved_from], **meta}
            moved = [replace(p, path=entry.path) for p in old_by_path.get(moved_from, [])]
            passages += chunks if chunks is not None else moved
            report.renamed.append((moved_from, entry.path))
            continue
        files[entry.path] = meta
        passages += (
            chunks if chunks is not None else chunk_document(doc, embedder.count_tokens, settings)
        )
        (report.changed if old else report.added).append(entry.path)
    report.removed = sorted(
        p for p in old_files if p not in files and p not in {a for a, _ in report.renamed}
    )
    counts = Counter(p.path for p in passages)
    for path, meta in files.items():
        meta["passages"] = counts[path]
    report.documents = len(files)
    report.passages_total = len(passages)
    return files, passages


def _commit_generation(
    cfg: Config,
    embedder: Embedder,
    settings: ChunkSettings,
    fingerprint: str,
    passages: list[Passage],
    vectors: np.ndarray,
    sentences: np.ndarray | None,
    files: dict[str, dict[str, Any]],
    skipped: dict[str, dict[str, Any]],
) -> str:
    """Write every part of a new generation, then make it live (see store.commit)."""
    import numpy as np

    params = ann.choose_params(len(passages), cfg)
    name, staging = store.new_generation(cfg.index)
    try:
        np.save(staging / store.VECTORS, vectors, allow_pickle=False)
        if sentences is not None:
            np.save(staging / store.SENTENCES, sentences, allow_pickle=False)
        ann.write(ann.build(vectors, params), staging / store.DENSE)
        (staging / store.BM25).mkdir()
        titles = {path: meta.get("title") for path, meta in files.items()}
        lexical.build(
            [lexical.with_title(p.text, titles[p.path]) for p in passages], staging / store.BM25
        )
        store.write_passages(staging, passages)
        manifest = store.Manifest(
            format=store.FORMAT,
            generation=name,
            built_at=store.now_iso(),
            model=embedder.name,
            model_fingerprint=embedder.fingerprint,
            dimension=embedder.dimension,
            chunking={**asdict(settings), "version": CHUNKER_VERSION},
            fingerprint=fingerprint,
            index_type=params.as_dict(),
            passages=len(passages),
            files=files,
            skipped=skipped,
            artifacts={},
            checksums={},
            onnx=_ensure_onnx(cfg.index, embedder),
        )
        store.commit(cfg.index, staging, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return name


def _previous(
    index_dir: Path, fingerprint: str, model_fingerprint: str, full: bool, sentences: bool
) -> tuple[store.Generation | None, str | None]:
    """The live generation to build on, and why everything must be re-chunked (if it must).

    After a chunking change the previous generation is still returned: its vectors are
    reused for every passage whose text comes out the same. `sentences`: the embedder gives
    sentence vectors, so a generation without them is rebuilt.
    """
    if full:
        return None, "--full"
    try:
        previous = store.open_generation(index_dir)
        if previous is None:
            return None, "no index yet"
        old = previous.manifest
        if old.model_fingerprint != model_fingerprint:
            return None, (
                f"the model changed (index: {old.model} {old.model_fingerprint}, "
                f"settings: {model_fingerprint})"
            )
        damaged = previous.damaged_files()
        if damaged:
            return None, f"the index was unreadable ({', '.join(damaged)} damaged)"
        previous.passages  # noqa: B018 - load now so damage is found here, not later
        if sentences and previous.sentence_rows is None:
            return previous, (
                "the index has no answer-sentence vectors yet (this version stores them): "
                "every passage is embedded once more"
            )
        if old.fingerprint != fingerprint:
            return previous, (
                f"the chunking settings changed (index: {old.chunking}); "
                "unchanged passage texts keep their vectors"
            )
        return previous, None
    except Exception as exc:  # damage of any kind: rebuild rather than fail
        return None, f"the index was unreadable ({exc})"


def _file_meta(
    entry: FileEntry, sha: str, kind: str, title: str | None, published: str | None
) -> dict[str, Any]:
    return {
        "size": entry.size,
        "mtime_ns": entry.mtime_ns,
        "sha256": sha,
        "kind": kind,
        "title": title,
        "published": published,
        "passages": None,
    }


def embed_key(p: Passage) -> str:
    """What a passage's vectors depend on: its text, and where its sentences fall in it."""
    return hashlib.sha256(f"{p.hash} {p.relative_spans()}".encode()).hexdigest()


def _vectors_for(
    index_dir: Path,
    passages: list[Passage],
    previous: store.Generation | None,
    embedder: Embedder,
    report: BuildReport,
    progress: ProgressFactory | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One vector per passage and, when the embedder gives them, one per sentence (float16,
    store.SENTENCES): reused by embed_key where possible, embedded otherwise."""
    import numpy as np

    embed_passages = getattr(embedder, "embed_passages", None)  # see embedding.pool_sentences
    with_sentences = embed_passages is not None
    known: dict[str, tuple[Any, Any]] = {}
    if previous is not None:
        old = previous.vectors
        for i, p in enumerate(previous.passages):
            known[embed_key(p)] = (old[i], previous.sentence_vectors(i))
    journal = journal_path(index_dir, embedder.fingerprint)
    known.update(read_journal(journal, embedder.dimension))
    if with_sentences:  # a vector stored without its sentences' is embedded again
        known = {key: found for key, found in known.items() if found[1] is not None}
    keys = [embed_key(p) for p in passages]
    missing: dict[str, Passage] = {}
    for key, p in zip(keys, passages, strict=True):
        if key not in known:
            missing.setdefault(key, p)
    report.passages_embedded = len(missing)
    report.passages_reused = sum(1 for key in keys if key not in missing)
    if missing:
        advance = progress(len(missing)) if progress else None
        writer = JournalWriter(journal, embedder.dimension)
        try:
            todo = list(missing)
            step = 256  # journal granularity: a kill loses at most this many embeddings
            for i in range(0, len(todo), step):
                batch = todo[i : i + step]
                texts = [missing[key].text for key in batch]
                sentences = None
                if embed_passages is not None:
                    spans = [missing[key].relative_spans() for key in batch]
                    vecs, sentences = embed_passages(texts, spans, progress=advance)
                else:
                    vecs = embedder.embed(texts, progress=advance)
                writer.append(batch, vecs, sentences)
                for row, key in enumerate(batch):
                    known[key] = (vecs[row], sentences[row] if sentences is not None else None)
        finally:
            writer.close()
    out = np.zeros((len(passages), embedder.dimension), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = known[key][0]
    if not with_sentences:
        return out, None
    sentence_rows = [known[key][1] for key in keys]
    return out, np.vstack(sentence_rows).astype(np.float16) if sentence_rows else None


def _ensure_onnx(index_dir: Path, embedder: Embedder) -> str | None:
    """Export the question encoder once per model, so `kzqa ask` never needs torch.

    Returns its folder relative to index_dir (None for embedders that cannot export).
    """
    export = getattr(embedder, "export_onnx", None)
    if export is None:
        return None
    rel = f"onnx/{embedder.fingerprint}"
    folder = index_dir / rel
    if not onnx_export_ok(folder):
        tmp = index_dir / f".staging-onnx-{embedder.fingerprint}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        export(tmp)
        store.fsync_tree(tmp)
        folder.parent.mkdir(exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
        store.fsync_dir(folder.parent)
    return rel
