"""The on-disk index: generations of (passages, vectors, FAISS, BM25) and a manifest.

index/
  manifest.json      the commit marker: names the live generation; written last, atomically
  gen-<id>/          passages.jsonl, vectors.npy, sentences.npy, dense.faiss, bm25/
                     (one complete build)
  onnx/<model fp>/   the question encoder exported from the model (model.onnx, tokenizer.json)
  journal-<fp>-v2.bin  vectors embedded by a build that has not committed yet (resumable)
  .lock              held by the one `kzqa index` that may write

A build writes a whole new generation beside the live one and switches by replacing
manifest.json; readers only ever follow manifest.json, so they see the old build or the new
one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BusyError, StoreError
from .records import Passage

if TYPE_CHECKING:
    import numpy as np

FORMAT = 1  # on-disk format version, checked on load
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.npy"
# Answer-sentence vectors, float16: each passage's sentences in order, passages in row order.
# Builds before this file existed lack it; their answers embed sentences at question time.
SENTENCES = "sentences.npy"
DENSE = "dense.faiss"
BM25 = "bm25"
KEEP_GENERATIONS = 2  # the live one and the one before, for readers that opened it already
REBUILD = "run `kzqa index --full` to rebuild it"


@dataclass
class Manifest:
    format: int
    generation: str
    built_at: str
    model: str
    model_fingerprint: str
    dimension: int
    chunking: dict[str, int]
    fingerprint: str  # everything that changes vectors or passages: model + chunking
    index_type: dict[str, Any]
    passages: int
    files: dict[str, dict[str, Any]]  # path -> size, mtime_ns, sha256, title, published, ...
    artifacts: dict[str, int]  # file in the generation -> size in bytes (checked on open)
    checksums: dict[str, str]  # file in the generation -> sha256 (checked by builds, verify)
    onnx: str | None = None  # folder (relative to index/) of the ONNX question encoder
    # Corpus files read but not indexed (binary, no text): path -> size, mtime_ns, reason.
    # Known, so they are not "added" again on every check until they change.
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"


def read_manifest(index_dir: Path) -> Manifest | None:
    """The live manifest; None when no index was ever built. Damage raises StoreError."""
    path = index_dir / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
        fmt = data.get("format")
        if fmt != FORMAT:
            raise StoreError(
                f"{path} is index format {fmt}; this kzqa reads format {FORMAT}", hint=REBUILD
            )
        manifest = Manifest(**data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"{path} is damaged ({type(exc).__name__})", hint=REBUILD) from exc
    for f in fields(Manifest):  # each value of its field's type, so nothing fails later
        declared = str(f.type)  # "int", "str | None", "dict[str, int]", ...
        kind = {"int": int, "str": str, "dict": dict}[declared.split("[")[0].split(" |")[0]]
        value = getattr(manifest, f.name)
        if not (isinstance(value, kind) or (value is None and declared.endswith("| None"))):
            raise StoreError(
                f"{path} is damaged ({f.name} is not of type {declared})", hint=REBUILD
            )
    return manifest


class Generation:
    """One committed build, opened read-only. Heavy parts load on first use."""

    def __init__(self, index_dir: Path, manifest: Manifest) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self.folder = index_dir / manifest.generation
        if not self.folder.is_dir():
            raise StoreError(f"index generation {self.folder} is missing", hint=REBUILD)
        for name, size in manifest.artifacts.items():
            try:
                actual = (self.folder / name).stat().st_size
            except OSError:
                actual = -1
            if actual != size:
                raise StoreError(
                    f"index file {self.folder / name} is damaged (size {actual}, expected {size})",
                    hint=REBUILD,
                )

    def damaged_files(self) -> list[str]:
        """Files whose content no longer matches the checksum recorded at commit."""
        from .corpus import sha256_file

        bad = []
        for name, digest in self.manifest.checksums.items():
            path = self.folder / name
            if not path.is_file() or sha256_file(path) != digest:
                bad.append(name)
        return bad

    @cached_property
    def passages(self) -> list[Passage]:
        rows = []
        path = self.folder / PASSAGES
        try:
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    row["sentences"] = tuple(tuple(s) for s in row["sentences"])
                    rows.append(Passage(**row))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
        if len(rows) != self.manifest.passages:
            raise StoreError(
                f"{path} holds {len(rows)} passages, the manifest says {self.manifest.passages}",
                hint=REBUILD,
            )
        return rows

    @cached_property
    def vectors(self) -> np.ndarray:
        import numpy as np

        path = self.folder / VECTORS
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
        if vectors.shape != (self.manifest.passages, self.manifest.dimension):
            raise StoreError(
                f"{path} has shape {vectors.shape}, expected "
                f"({self.manifest.passages}, {self.manifest.dimension})",
                hint=REBUILD,
            )
        return vectors

    @cached_property
    def sentence_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """All answer-sentence vectors, and the row where each passage's first one is, plus
        one past the last (None: this generation stores none)."""
        import numpy as np

        if SENTENCES not in self.manifest.artifacts:
            return None
        starts = np.zeros(len(self.passages) + 1, dtype=np.int64)
        np.cumsum([len(p.sentence_spans()) for p in self.passages], out=starts[1:])
        path = self.folder / SENTENCES
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
        if vectors.shape != (starts[-1], self.manifest.dimension):
            raise StoreError(
                f"{path} has shape {vectors.shape}, expected "
                f"({starts[-1]}, {self.manifest.dimension})",
                hint=REBUILD,
            )
        return vectors, starts

    def sentence_vectors(self, row: int) -> np.ndarray | None:
        """The stored vectors of passage row's sentences (float32), or None."""
        import numpy as np

        if self.sentence_rows is None:
            return None
        vectors, starts = self.sentence_rows
        return np.asarray(vectors[starts[row] : starts[row + 1]], dtype=np.float32)

    @cached_property
    def dense(self) -> Any:
        from . import ann

        path = self.folder / DENSE
        try:
            index = ann.read(path, ann.IndexParams.from_dict(self.manifest.index_type))
        except (RuntimeError, OSError, KeyError) as exc:
            raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
        if index.ntotal != self.manifest.passages or index.d != self.manifest.dimension:
            raise StoreError(
                f"{path} holds {index.ntotal} vectors of dimension {index.d}; "
                f"expected {self.manifest.passages} of {self.manifest.dimension}",
                hint=REBUILD,
            )
        return index

    @property
    def exact(self) -> bool:
        """A flat index: searched with numpy on the vectors, never through FAISS."""
        return self.manifest.index_type.get("kind") == "flat"

    def preload(self) -> None:
        """Load every part a search reads, so the first question does not pay for it."""
        parts = ("passages", "vectors", "sentence_rows", "lexical")
        for part in parts + (() if self.exact else ("dense",)):
            getattr(self, part)

    def search_dense(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """Top-k (passage row, cosine) per query: numpy for an exact index, FAISS otherwise."""
        from . import ann

        if self.exact:
            return ann.search_exact(self.vectors, queries, k)
        return ann.search(self.dense, queries, k)

    @cached_property
    def lexical(self) -> Any:
        from .lexical import Lexical

        try:
            lexical = Lexical(self.folder / BM25)
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(
                f"BM25 index in {self.folder / BM25} is damaged", hint=REBUILD
            ) from exc
        if lexical.size != self.manifest.passages:
            raise StoreError(
                f"BM25 index holds {lexical.size} passages, expected {self.manifest.passages}",
                hint=REBUILD,
            )
        return lexical


def open_generation(index_dir: Path) -> Generation | None:
    manifest = read_manifest(index_dir)
    return Generation(index_dir, manifest) if manifest else None


# --- writing ------------------------------------------------------------------------------


@contextmanager
def write_lock(index_dir: Path, wait: float = 0) -> Iterator[None]:
    """Only one writer at a time; released by the OS if the process dies (even kill -9)."""
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"another `kzqa index` is updating {index_dir}",
            hint="wait for it to finish, or pass --wait",
        ) from None
    try:
        yield
    finally:
        lock.release()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb+") as fh:
                os.fsync(fh.fileno())
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        fsync_dir(path)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def new_generation(index_dir: Path) -> tuple[str, Path]:
    """A fresh, hidden staging folder for the next generation."""
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 1_000_000_000:09d}"
    staging = index_dir / f".staging-{name}"
    staging.mkdir(parents=True)
    return name, staging


def write_passages(folder: Path, passages: list[Passage]) -> None:
    with (folder / PASSAGES).open("w", encoding="utf-8") as fh:
        for p in passages:
            row = asdict(p)
            row["sentences"] = [list(s) for s in p.sentences]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def commit(index_dir: Path, staging: Path, manifest: Manifest) -> None:
    """Make the staged generation live: fsync it, move it in place, then swap the manifest."""
    from .corpus import sha256_file

    files = {
        p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*")) if p.is_file()
    }
    manifest.artifacts = {name: p.stat().st_size for name, p in files.items()}
    manifest.checksums = {name: sha256_file(p) for name, p in files.items()}
    fsync_tree(staging)
    final = index_dir / manifest.generation
    os.replace(staging, final)
    fsync_dir(index_dir)
    write_text_atomic(index_dir / MANIFEST, manifest.to_json())


def prune(index_dir: Path, live: str) -> None:
    """Remove staging left by killed builds and generations older than the previous one.

    Call with the write lock held: then no other build is staging anything.
    """
    for stale in index_dir.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    others = [g.name for g in generations if g.name != live]
    keep = {live, *others[len(others) - (KEEP_GENERATIONS - 1) :]}
    for old in generations:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
