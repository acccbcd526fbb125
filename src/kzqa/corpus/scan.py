"""Which corpus files there are: a cheap scan (stat only, no reading, no hashing)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
    ".pdf": "pdf",
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
    warnings: list[str]  # about files that could not even be looked at (a bad name, no access)
    # Files seen and left unread, each with its warning (another type, empty, a link out of
    # the corpus): a build warns about each once and records it, until the file changes.
    passed: list[tuple[FileEntry, str]] = field(default_factory=list)


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
    passed: list[tuple[FileEntry, str]] = []
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
            outside = full.is_symlink() and inside(root, rel) is None
            try:  # a link out of the corpus is looked at, never what it points to
                st = full.lstat() if outside else full.stat()
            except OSError as exc:
                warnings.append(f"skipped {rel}: {exc.strerror}")
                continue
            entry = FileEntry(rel, full, st.st_size, st.st_mtime_ns)
            if full.suffix.lower() not in KINDS:
                passed.append((entry, f"skipped {rel}: not a file type kzqa reads ({_NAMED})"))
            elif outside:
                passed.append((entry, f"skipped {rel}: a link to a file outside the corpus folder"))
            elif st.st_size == 0:
                passed.append((entry, f"skipped {rel}: empty file"))
            else:
                files.append(entry)
    return Scan(files, warnings, passed)
