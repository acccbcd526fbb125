"""The one change check: a corpus scan against what the manifest recorded (stat only).

`kzqa status`, `kzqa ask`'s refresh and `kzqa index` all ask it what moved; only the files it
calls added or modified are read and hashed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import sha256_file
from .scan import FileEntry, Scan, scan_corpus


@dataclass(frozen=True)
class Changes:
    """Corpus paths by what happened to them since the index was built."""

    added: list[str]
    modified: list[str]  # size or modification time differ: maybe edited, maybe only touched
    removed: list[str]
    unchanged: list[str]  # same size and modification time as recorded
    still_skipped: list[str]  # read before and not indexable (binary, no text), unchanged
    # (old, new): a file gone from its recorded path and found, the same bytes, at a new one
    # (neither is in `added` or `removed`). What a build reuses without reading the text again.
    renamed: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.removed or self.renamed)

    def summary(self) -> str:
        parts = [
            f"{len(paths)} {name}"
            for name, paths in (
                ("added", self.added),
                ("modified", self.modified),
                ("removed", self.removed),
                ("renamed", self.renamed),
            )
            if paths
        ]
        return ", ".join(parts)


def same_stat(entry: FileEntry, meta: Mapping[str, Any]) -> bool:
    return (meta["size"], meta["mtime_ns"]) == (entry.size, entry.mtime_ns)


def compare(
    scan: Scan, files: Mapping[str, Mapping[str, Any]], skipped: Mapping[str, Mapping[str, Any]]
) -> Changes:
    """What moved between the scan and the manifest's `files` and `skipped` records."""
    added, modified, unchanged, still_skipped = [], [], [], []
    for entry in scan.files:
        known = files.get(entry.path)
        if known is None and entry.path in skipped:
            if same_stat(entry, skipped[entry.path]):
                still_skipped.append(entry.path)
            else:
                modified.append(entry.path)
        elif known is None:
            added.append(entry.path)
        elif same_stat(entry, known):
            unchanged.append(entry.path)
        else:
            modified.append(entry.path)
    present = {e.path for e in scan.files}
    removed = [path for path in files if path not in present]
    renamed = _renames(scan, added, removed, files)
    new, old = {n for _, n in renamed}, {o for o, _ in renamed}
    return Changes(
        sorted(p for p in added if p not in new),
        sorted(modified),
        sorted(p for p in removed if p not in old),
        sorted(unchanged),
        sorted(still_skipped),
        sorted(renamed),
    )


def _renames(
    scan: Scan, added: list[str], removed: list[str], files: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """Added files holding the bytes of a removed one (by sha256, as the build tells). Only an
    added file the size of a removed one is read, so the check stays cheap."""
    by_size: dict[int, list[str]] = {}
    for path in removed:
        by_size.setdefault(files[path]["size"], []).append(path)
    entries = {e.path: e for e in scan.files}
    pairs = []
    for path in added:
        entry = entries[path]
        candidates = by_size.get(entry.size)
        if not candidates:
            continue
        try:
            digest = sha256_file(entry.abspath)
        except OSError:
            continue
        for old in candidates:
            if files[old]["sha256"] == digest:
                candidates.remove(old)
                pairs.append((old, path))
                break
    return pairs


def changes_since(
    corpus: Path,
    index: Path,
    files: Mapping[str, Mapping[str, Any]],
    skipped: Mapping[str, Mapping[str, Any]],
) -> Changes:
    """Scan the corpus (leaving out the index folder if it is inside) and compare."""
    return compare(scan_corpus(corpus, exclude=index), files, skipped)
