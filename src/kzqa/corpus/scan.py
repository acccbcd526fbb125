"""Which corpus files there are: a cheap scan (stat only, no reading, no hashing)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from .paths import inside

KINDS = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".odt": "odt",
}
_NAMED = ", ".join(KINDS)  # for the warning on a file of another type


@dataclass(frozen=True)
class FileEntry:
    """A corpus file as seen by a cheap scan (no reading, no hashing)."""

    path: str  # relative to the corpus folder, forward slashes
    abspath: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Scan:
    files: list[FileEntry]
    warnings: list[str]


def scan_corpus(root: Path, exclude: Path | None = None) -> Scan:
    """List readable corpus files; skip hidden files, `exclude` (the index) and other types."""
    if not root.is_dir():
        raise CorpusError(
            f"corpus folder not found: {root}",
            hint=f"create it and add files ({_NAMED}), or pass --corpus",
        )
    excluded = exclude.resolve() if exclude is not None else None
    files: list[FileEntry] = []
    warnings: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and (excluded is None or (here / d).resolve() != excluded)
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = here / name
            rel = full.relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # bytes the file system would not decode
                shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                warnings.append(f"skipped {shown}: its name is not valid UTF-8 (rename it)")
                continue
            if full.suffix.lower() not in KINDS:
                warnings.append(f"skipped {rel}: not a file type kzqa reads ({_NAMED})")
                continue
            if full.is_symlink() and inside(root, rel) is None:
                warnings.append(f"skipped {rel}: a link to a file outside the corpus folder")
                continue
            try:
                st = full.stat()
            except OSError as exc:
                warnings.append(f"skipped {rel}: {exc.strerror}")
                continue
            if st.st_size == 0:
                warnings.append(f"skipped {rel}: empty file")
                continue
            files.append(FileEntry(rel, full, st.st_size, st.st_mtime_ns))
    return Scan(files, warnings)
