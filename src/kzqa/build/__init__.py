"""corpus -> index: `kzqa index`. Incremental (only new passages are embedded), resumable (a
journal keeps what a killed build embedded) and atomic (see kzqa.store).

    scan -> diff against the live generation -> chunk what is new -> vectors -> commit
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..chunking import CHUNKER_VERSION, ChunkSettings
from ..config import Config
from ..corpus import KINDS, READER_VERSION, Scan, scan_corpus
from ..embed import (
    Embedder,
    has_quantized,
    model_fingerprint,
    onnx_damage,
    onnx_export_ok,
    open_embedder,
    quantize_export,
)
from ..errors import CorpusError, StoreError
from ..files import fsync_dir, fsync_tree, sha256_file, write_text_atomic
from ..records import Passage
from ..search import dense, lexical
from ..store.journal import journal_path
from . import milvus
from .diff import Diff, diff_corpus
from .vectors import ProgressFactory, salvage, vectors_for

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BuildReport", "ProgressFactory", "build_index"]
ONNX = "onnx"  # index/onnx/<model fingerprint>/: the exported question encoder


@dataclass
class BuildReport(Diff):
    """What `kzqa index` did: the diff, and what it cost."""

    passages_embedded: int = 0
    passages_reused: int = 0
    passages_total: int = 0
    documents: int = 0
    rebuilt: str | None = None  # why everything was rebuilt, if it was
    # Why a new generation was written though no file changed (a setting did), if it was.
    settings_changed: str | None = None
    committed: bool = False  # a new generation was written
    seconds: float = 0.0

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
            "settings_changed": self.settings_changed,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
        }


def chunk_settings(cfg: Config) -> ChunkSettings:
    return ChunkSettings(cfg.max_tokens, cfg.pack_tokens, cfg.min_tokens)


def index_fingerprint(model_fingerprint: str, settings: ChunkSettings) -> str:
    raw = json.dumps(
        [model_fingerprint, asdict(settings), CHUNKER_VERSION, READER_VERSION], sort_keys=True
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def build_index(
    cfg: Config,
    *,
    full: bool = False,
    embedder: Embedder | None = None,
    progress: ProgressFactory | None = None,
    wait: float = 0,
) -> BuildReport:
    """Bring the index in line with the corpus, embedding only passages it has never seen.

    Everything that touches index/ happens under its write lock.
    """
    started = time.perf_counter()
    scan = scan_corpus(cfg.corpus, exclude=cfg.index)
    if not scan.files:
        raise CorpusError(
            f"no documents in {cfg.corpus}", hint=f"add files kzqa reads ({', '.join(KINDS)})"
        )
    with store.write_lock(cfg.index, wait=wait):
        report = BuildReport()
        if embedder is None:
            _drop_damaged_export(cfg.index, model_fingerprint(cfg.model), full, report)
            embedder = open_embedder(cfg.model, cfg.batch_size, cfg.index / ONNX)
        _build_locked(cfg, scan, embedder, full, progress, report)
    report.seconds = time.perf_counter() - started
    return report


def _build_locked(
    cfg: Config,
    scan: Scan,
    embedder: Embedder,
    full: bool,
    progress: ProgressFactory | None,
    report: BuildReport,
) -> None:
    settings = chunk_settings(cfg)
    fingerprint = index_fingerprint(embedder.fingerprint, settings)
    previous, report.rebuilt, legacy, damaged = _previous(
        cfg.index, fingerprint, embedder.fingerprint, full
    )
    recorded = _recorded_files(cfg.index) if previous is None else None
    files, passages = diff_corpus(
        scan, previous, embedder, settings, report, report.rebuilt is not None, progress, recorded
    )
    report.documents, report.passages_total = len(files), len(passages)
    if not files:
        raise CorpusError(
            f"no readable documents in {cfg.corpus}", hint="; ".join(report.warnings[:3]) or None
        )
    # No file moved: the passages and vectors are those of `same` (the live generation), and
    # only a setting (BM25, the vector index, the store) can call for a new generation, whose
    # vectors are then reused, not embedded again.
    same = previous if report.rebuilt is None and not report.any_change else None
    if same is not None:
        report.settings_changed = _changed_settings(cfg, same)
        if report.settings_changed is None:
            onnx = _ensure_onnx(cfg.index, embedder, report, progress)
            # Only stat data (or the encoder) moved: record it so staleness checks stay cheap.
            old = same.manifest
            if (files, onnx, report.skipped) != (old.files, old.onnx, old.skipped):
                old.files, old.onnx, old.skipped = files, onnx, report.skipped
                write_text_atomic(cfg.index / store.MANIFEST, old.to_json())
            return

    # Damaged, or --full: every vector that still reads back sound is reused, row by row.
    trusted = salvage(cfg.index, embedder) if damaged else None
    vectors, sentences, report.passages_embedded, report.passages_reused = vectors_for(
        cfg.index, passages, previous, embedder, progress, trusted
    )
    name, index_type = _commit_generation(
        cfg,
        embedder,
        settings,
        fingerprint,
        passages,
        vectors,
        sentences,
        files,
        report,
        previous,
        progress,
        same if not damaged else None,  # its FAISS file may be taken as it is
    )
    report.committed = True
    if index_type.get("kind") == milvus.KIND:
        try:
            milvus.finish(cfg.index, index_type)
        except StoreError as exc:  # committed already: the next build deletes them instead
            report.warnings.append(f"could not delete the rows no reader sees: {exc.message}")
    journal_path(cfg.index, embedder.fingerprint).unlink(missing_ok=True)
    keep = {name} | ({previous.manifest.generation} if previous else set())
    store.prune(cfg.index, keep, legacy)


def _commit_generation(
    cfg: Config,
    embedder: Embedder,
    settings: ChunkSettings,
    fingerprint: str,
    passages: list[Passage],
    vectors: np.ndarray,
    sentences: np.ndarray,
    files: dict[str, dict[str, Any]],
    report: BuildReport,
    previous: store.Generation | None,
    progress: ProgressFactory | None = None,
    dense_from: store.Generation | None = None,
) -> tuple[str, dict[str, Any]]:
    """Write every part of a new generation, then make it live (see store.commit). With
    `store: milvus` the collection takes the place of the FAISS and BM25 files, and is
    brought to the new generation before the manifest names it. `dense_from`: a generation
    of the same passages and vectors, whose FAISS index is taken when it has the same shape."""
    import numpy as np

    name, staging = store.new_generation(cfg.index)
    try:
        np.save(staging / store.VECTORS, vectors, allow_pickle=False)
        np.save(staging / store.SENTENCES, sentences, allow_pickle=False)
        titles = {path: meta.get("title") for path, meta in files.items()}
        store.write_passages(staging, passages)
        if cfg.store == "milvus":
            index_type = milvus.stage(
                cfg,
                staging,
                passages,
                vectors,
                titles,
                fingerprint,
                embedder.dimension,
                previous,
                report.rebuilt == "--full",
                report.warnings,
            )
        else:
            params = dense.choose_params(len(passages), cfg)
            index_type = params.as_dict()
            if (
                dense_from is not None
                and dense.same_build(dense_from.manifest.index_type, params)
                and _intact(dense_from, store.DENSE)
            ):
                # Only a search setting (ann.hnsw_ef_search, ...) or BM25's changed: the graph
                # or lists are the same, and rebuilding HNSW takes minutes at 1M passages.
                store.link_or_copy(dense_from.folder / store.DENSE, staging / store.DENSE)
            else:
                dense.write(dense.build(vectors, params), staging / store.DENSE)
            (staging / store.BM25).mkdir()
            lexical.build(
                [lexical.with_title(p.text, titles[p.path]) for p in passages],
                staging / store.BM25,
            )
        manifest = store.Manifest(
            format=store.FORMAT,
            generation=name,
            built_at=store.now_iso(),
            model=embedder.name,
            model_fingerprint=embedder.fingerprint,
            dimension=embedder.dimension,
            chunking={**asdict(settings), "version": CHUNKER_VERSION, "reader": READER_VERSION},
            fingerprint=fingerprint,
            index_type=index_type,
            passages=len(passages),
            files=files,
            skipped=report.skipped,
            artifacts={},
            checksums={},
            onnx=_ensure_onnx(cfg.index, embedder, report, progress),
        )
        store.commit(cfg.index, staging, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return name, index_type


def _intact(generation: store.Generation, name: str) -> bool:
    """Whether a file of the generation still has the SHA-256 its manifest recorded. Builds
    hash again only the files whose time moved: one damaged in place must not be carried
    into a new generation under a fresh checksum."""
    recorded = generation.manifest.checksums.get(name)
    return recorded is not None and sha256_file(generation.folder / name) == recorded


def _changed_settings(cfg: Config, previous: store.Generation) -> str | None:
    """What differs between the store, BM25 settings and vector index type (`ann.*`) the
    live generation was written with and those this build would use; None when nothing."""
    manifest = previous.manifest
    if cfg.store == "milvus":
        same = milvus.same_layout(cfg, manifest.index_type)
        return None if same else "the Milvus settings (or the store) changed"
    if manifest.index_type.get("kind") == milvus.KIND:
        return "the store changed (store: faiss)"
    if manifest.index_type != dense.choose_params(manifest.passages, cfg).as_dict():
        return "the vector index settings (ann.*) changed"
    if not lexical.params_match(previous.folder / store.BM25):
        return "this kzqa's BM25 settings differ"
    return None


def _previous(
    index_dir: Path, fingerprint: str, model_fingerprint: str, full: bool
) -> tuple[store.Generation | None, str | None, str | None, bool]:
    """The live generation to build on; why everything must be re-chunked (if it must); the
    generation an older-format manifest named (kzqa's to delete once replaced); and whether
    the index is damaged (then its sound rows are salvaged instead).

    After a chunking change the previous generation is still returned: its vectors are
    reused for every passage whose text comes out the same. Only damage (StoreError) makes
    the index count as unreadable; any other error is a bug or the machine's and propagates.
    """
    if full:  # every file rebuilt; vectors still sound are reused (salvage), not embedded
        return None, "--full", _legacy_generation(index_dir), True
    try:
        previous = store.open_generation(index_dir)
        if previous is None:
            return None, "no index yet", None, False
        old = previous.manifest
        if old.model_fingerprint != model_fingerprint:
            return (
                None,
                (
                    f"the model changed (index: {old.model} {old.model_fingerprint}, "
                    f"settings: {model_fingerprint})"
                ),
                None,
                False,
            )
        previous.check_reusable()
    except store.FormatError as exc:
        why = f"the index was written by an older kzqa (format {exc.found})"
        return None, why, exc.generation, False
    except StoreError as exc:
        why = f"the index was damaged ({exc.message}); every vector still sound is reused"
        return None, why, None, True
    if old.fingerprint != fingerprint:
        return (
            previous,
            (
                f"the chunking settings changed (index: {old.chunking}); "
                "unchanged passage texts keep their vectors"
            ),
            None,
            False,
        )
    return previous, None, None, False


def _recorded_files(index_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The files the live manifest lists, when it still reads (for the build's report)."""
    try:
        manifest = store.read_manifest(index_dir)
    except StoreError:
        return None
    return manifest.files if manifest is not None else None


def _legacy_generation(index_dir: Path) -> str | None:
    """The generation an older-format manifest names, if that is what index_dir holds."""
    try:
        store.read_manifest(index_dir)
    except store.FormatError as exc:
        return exc.generation
    except StoreError:
        pass
    return None


def _drop_damaged_export(index_dir: Path, fingerprint: str, full: bool, report: Any) -> None:
    """Remove this model's ONNX export when its files fail their checksums (cached hashes:
    a file is read again only when its size or time changed), so it is exported again.
    `--full` also redoes the exports of other models."""
    folder = index_dir / ONNX
    for export in sorted(folder.iterdir()) if folder.is_dir() else ():
        if export.name != fingerprint and not full:
            continue
        damage = onnx_export_ok(export) and onnx_damage(export, cached=True)
        if damage:
            report.warnings.append(f"the question encoder is damaged ({damage}); exported again")
            shutil.rmtree(export)


def _ensure_onnx(
    index_dir: Path,
    embedder: Embedder,
    report: BuildReport,
    progress: ProgressFactory | None = None,
) -> str | None:
    """Export the question encoder once per model, so `kzqa ask` never needs torch (told to
    `progress` as the stage "exporting": MiniLM's export and int8 graph take 13-16 s).

    Returns its folder relative to index_dir: None for a model with nothing to export, or
    when the export fails (then the model itself answers questions, more slowly).
    """
    rel = f"{ONNX}/{embedder.fingerprint}"
    folder = index_dir / rel
    if onnx_export_ok(folder):
        _ensure_quantized(folder, report)
        return rel
    advance = progress("exporting", 1) if progress and embedder.exports_onnx else None
    try:
        return rel if _export(index_dir, folder, embedder, report) else None
    finally:
        if advance:
            advance(1)  # the stage is over, exported or not


def _export(index_dir: Path, folder: Path, embedder: Embedder, report: BuildReport) -> bool:
    """Export the question encoder into `folder` (staged beside it, then renamed), with its
    int8 graph; False when the model has nothing to export or the export fails."""
    tmp = store.make_staging(index_dir, f"onnx-{embedder.fingerprint}-{time.time_ns()}")
    try:
        if not embedder.export_onnx(tmp):
            return False
        (tmp / store.OWNER).unlink()
        fsync_tree(tmp)
        folder.parent.mkdir(exist_ok=True)
        if folder.exists():  # an export this kzqa cannot run (an older format): kzqa's own
            shutil.rmtree(folder)
        tmp.replace(folder)
        fsync_dir(folder.parent)
    except Exception as exc:  # torch.onnx raises many types; none may fail the build
        report.warnings.append(
            f"could not export the question encoder ({type(exc).__name__}: {exc}); "
            "questions are embedded by the model itself, which is slower"
        )
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _ensure_quantized(folder, report)
    return True


def _ensure_quantized(folder: Path, report: BuildReport) -> None:
    """Add the export's int8 question graph once (an export made by an older kzqa lacks it).
    A failure is a warning: questions are then embedded by the full graph."""
    if has_quantized(folder):
        return
    try:
        quantize_export(folder)
    except Exception as exc:  # ONNX Runtime's and onnx's own error types
        report.warnings.append(
            f"could not make the int8 question encoder ({type(exc).__name__}: {exc}); "
            "questions are embedded at full precision"
        )
