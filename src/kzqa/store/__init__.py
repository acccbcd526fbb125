"""The on-disk index: generations of (passages, vectors, FAISS, BM25) and a manifest.

index/
  manifest.json      the commit marker: names the live generation; written last, atomically
  gen-<id>/          passages.jsonl, vectors.npy, sentences.npy, dense.faiss, bm25/
                     (one complete build; named by its UTC build time; .kzqa-generation
                     marks it as kzqa's, the only kind of folder prune deletes; a copy of
                     its manifest, so its vectors can be salvaged once it is not live)
  onnx/<model fp>/   the question encoder exported from the model (model.onnx, its int8
                     copy model-int8.onnx, tokenizer.json)
  journal-<fp>-v3.bin  vectors embedded by a build that has not committed yet (resumable)
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
from dataclasses import asdict
from pathlib import Path

from ..errors import BusyError
from ..files import fsync_dir, fsync_tree, sha256_file, write_text_atomic
from ..records import Passage
from .generation import Generation, open_generation
from .manifest import (
    BM25,
    DENSE,
    FORMAT,
    MANIFEST,
    OWNER,
    PASSAGES,
    REBUILD,
    SENTENCES,
    VECTORS,
    FormatError,
    Manifest,
    read_manifest,
)
from .salvage import trusted_rows

__all__ = [
    "BM25",
    "DENSE",
    "FORMAT",
    "MANIFEST",
    "OWNER",
    "PASSAGES",
    "REBUILD",
    "SENTENCES",
    "VECTORS",
    "FormatError",
    "Generation",
    "Manifest",
    "commit",
    "link_or_copy",
    "make_staging",
    "new_generation",
    "owned",
    "now_iso",
    "open_generation",
    "prune",
    "read_manifest",
    "trusted_rows",
    "write_lock",
    "write_passages",
]


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


def new_generation(index_dir: Path) -> tuple[str, Path]:
    """A name for the next generation and its fresh, hidden staging folder (marked as ours).

    Names are UTC, so they sort by build time whatever the local clock's time zone does.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"gen-{stamp}-{time.time_ns() % 1_000_000_000:09d}"
    return name, make_staging(index_dir, name)


def make_staging(index_dir: Path, name: str) -> Path:
    """index_dir/.staging-<name>, new and marked as kzqa's, so prune may delete it later."""
    staging = index_dir / f".staging-{name}"
    staging.mkdir(parents=True)
    (staging / OWNER).write_text("kzqa\n", encoding="utf-8")
    return staging


def owned(folder: Path) -> bool:
    """Whether kzqa made this folder (it holds the OWNER marker)."""
    return (folder / OWNER).is_file()


def link_or_copy(src: Path, dest: Path) -> None:
    """dest as a hard link to src (kzqa never writes into a generation's files, only replaces
    them), or a copy where the file system has no hard links."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def write_passages(folder: Path, passages: list[Passage]) -> None:
    with (folder / PASSAGES).open("w", encoding="utf-8") as fh:
        for p in passages:
            row = asdict(p)
            row["sentences"] = [list(s) for s in p.sentences]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def commit(index_dir: Path, staging: Path, manifest: Manifest) -> None:
    """Make the staged generation live: fsync it, move it in place, then swap the manifest."""
    files = {
        p.relative_to(staging).as_posix(): p
        for p in sorted(staging.rglob("*"))
        if p.is_file() and p.name != OWNER
    }
    manifest.artifacts = {name: p.stat().st_size for name, p in files.items()}
    manifest.checksums = {name: sha256_file(p) for name, p in files.items()}
    manifest.mtimes = {name: p.stat().st_mtime_ns for name, p in files.items()}
    # A copy inside the generation (not one of its artifacts): what it holds stays known when
    # it is no longer live, so a build after damage can still reuse its vectors (salvage.py).
    (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    fsync_tree(staging)
    final = index_dir / manifest.generation
    os.replace(staging, final)
    fsync_dir(index_dir)
    write_text_atomic(index_dir / MANIFEST, manifest.to_json())


def prune(index_dir: Path, keep: set[str], legacy: str | None = None) -> list[str]:
    """Delete what kzqa wrote and no longer needs: staging left by killed builds and every
    generation not in `keep` (the live one and the one before it, which a reader that opened
    it just before the switch may still be reading). Returns the names deleted.

    Only folders that hold kzqa's OWNER marker are touched, so an --index that names a folder
    of the user's never loses anything; `legacy` names one unmarked generation that an older
    kzqa's manifest named (its own). Call with the write lock held.
    """
    deleted = []
    for folder in sorted(index_dir.iterdir()):
        if not folder.is_dir() or folder.is_symlink() or folder.name in keep:
            continue
        ours = owned(folder) or folder.name == legacy
        if ours and folder.name.startswith(("gen-", ".staging-")):
            shutil.rmtree(folder, ignore_errors=True)
            deleted.append(folder.name)
    return deleted


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
