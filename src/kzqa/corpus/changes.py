"""The one change check: a corpus scan against what the manifest recorded (stat only).

`kzqa status`, `kzqa ask`'s refresh and `kzqa index` all ask it what moved; only the files it
calls added or modified are read and hashed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .scan import FileEntry, Scan, scan_corpus


@dataclass(frozen=True)
class Changes:
    """Corpus paths by what happened to them since the index was built."""

    added: list[str]
    modified: list[str]  # size or modification time differ: maybe edited, maybe only touched
    removed: list[str]
    unchanged: list[str]  # same size and modification time as recorded
    still_skipped: list[str]  # read before and not indexable (binary, no text), unchanged

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.removed)

    def summary(self) -> str:
        parts = [
            f"{len(paths)} {name}"
            for name, paths in (
                ("added", self.added),
                ("modified", self.modified),
                ("removed", self.removed),
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
    return Changes(
        sorted(added), sorted(modified), sorted(removed), sorted(unchanged), sorted(still_skipped)
    )


def changes_since(
    corpus: Path,
    index: Path,
    files: Mapping[str, Mapping[str, Any]],
    skipped: Mapping[str, Mapping[str, Any]],
) -> Changes:
    """Scan the corpus (leaving out the index folder if it is inside) and compare."""
    return compare(scan_corpus(corpus, exclude=index), files, skipped)
