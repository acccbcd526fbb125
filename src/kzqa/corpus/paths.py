"""A corpus file's two names: its path relative to the corpus folder (the manifest's key) and
the path a user opens (what a citation's `source` shows)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

DISPLAYED = 4096  # (corpus, path, working directory) names kept: every answer shows a few


def display_source(corpus: Path, path: str) -> str:
    """The path as the user would open it: relative to the working directory when inside it."""
    cwd = os.getcwd()
    root = _relative_root(corpus, cwd)
    if root is None:  # the corpus is not inside the working directory: a path at a time
        return _display_source(corpus, path, cwd)
    return path if root == "." else f"{root}/{path}"  # `path` is relative and normalized


@lru_cache(maxsize=16)  # (corpus, working directory) pairs: a process sees one or two
def _relative_root(corpus: Path, cwd: str) -> str | None:
    """The corpus folder relative to cwd; None when it is not inside cwd."""
    rel = os.path.relpath(corpus, cwd)
    return None if _outside(rel) else Path(rel).as_posix()


def _outside(rel: str) -> bool:
    """Whether a relative path leads out of its start (a name like "..notes" does not)."""
    return rel == os.pardir or rel.startswith(os.pardir + os.sep)


@lru_cache(maxsize=DISPLAYED)
def _display_source(corpus: Path, path: str, cwd: str) -> str:
    full = corpus / path
    rel = os.path.relpath(full, cwd)
    return str(full.resolve()) if _outside(rel) else Path(rel).as_posix()


def corpus_paths(corpus: Path, source: str) -> list[str]:
    """The paths relative to the corpus folder that `source` may name, most literal first:
    as given (already relative to the corpus), then as a citation shows it (relative to the
    working directory, or absolute). Which of them is indexed is the caller's check."""
    given = Path(source)
    names = [] if given.is_absolute() else [given.as_posix()]
    full = Path(os.path.abspath(given))
    for root in (Path(os.path.abspath(corpus)), corpus.resolve()):
        for candidate in (full, full.resolve()):
            try:
                names.append(candidate.relative_to(root).as_posix())
            except ValueError:
                continue
    return list(dict.fromkeys(name for name in names if name not in ("", ".")))


def inside(corpus: Path, path: str) -> Path | None:
    """The file a corpus-relative path names, if it lies inside the corpus folder once links
    are followed (kzqa reads, cites and serves nothing outside it); None otherwise."""
    full = corpus / path
    return full if full.resolve().is_relative_to(corpus.resolve()) else None
