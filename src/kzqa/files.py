"""Durable file writes: content hashes, fsync, atomic replace. Every writer of index/ uses these."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


Signature = tuple[int, int, int, int]  # a file's size, mtime_ns, inode, ctime_ns (signature())


def signature(path: str | Path) -> Signature | None:
    """A file's (size, mtime_ns, inode, ctime_ns), for what a process keeps about a file while
    it runs: unlike size and mtime alone, it moves when the file is edited with its time put
    back (ctime cannot be set) or swapped for another by a rename (inode). None when it
    cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under folder to disk (before it is renamed into place)."""
    for path in folder.rglob("*"):
        if path.is_file():
            fsync_file(path)
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        fsync_dir(path)


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary name beside path, fsync, then replace: readers see old or new."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def cache_folder() -> Path:
    """kzqa's cache ($XDG_CACHE_HOME/kzqa): eval indexes, model weight hashes."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kzqa"
