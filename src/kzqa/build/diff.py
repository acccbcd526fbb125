"""The corpus against the previous generation: which files are new, edited, moved or gone,
and the passages of the next generation (old ones reused, only new or edited files chunked)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ..chunking import ChunkSettings, chunk_document
from ..corpus import FileEntry, Scan, compare, read_document
from ..embed import Embedder
from ..records import Document, Passage
from ..store import Generation


@dataclass
class Diff:
    """What `kzqa index` reports: each corpus path by what happened to it."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)  # read, not indexable
    warnings: list[str] = field(default_factory=list)

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.renamed)


def diff_corpus(
    scan: Scan,
    previous: Generation | None,
    embedder: Embedder,
    settings: ChunkSettings,
    diff: Diff,
    rechunk: bool = False,
) -> tuple[dict[str, dict[str, Any]], list[Passage]]:
    """The new manifest's files and the new generation's passages; fills `diff`.

    Files the change check (corpus.compare) calls unchanged keep their passages unread; the
    others are read and hashed (all of them when `rechunk`, after a chunking change).
    """
    old_files = previous.manifest.files if previous else {}
    old_skipped = previous.manifest.skipped if previous else {}
    old_by_path: dict[str, list[Passage]] = {}
    for p in previous.passages if previous else ():
        old_by_path.setdefault(p.path, []).append(p)
    changes = compare(scan, old_files, old_skipped)
    unchanged, still_skipped = set(changes.unchanged), set(changes.still_skipped)
    gone = changes.removed + [old for old, _ in changes.renamed]
    removed_by_hash = {old_files[path]["sha256"]: path for path in gone}

    diff.warnings += scan.warnings
    files: dict[str, dict[str, Any]] = {}
    passages: list[Passage] = []
    for entry in scan.files:
        if entry.path in still_skipped:
            diff.skipped[entry.path] = old_skipped[entry.path]  # the same file: not read again
            continue
        old = old_files.get(entry.path)
        if entry.path in unchanged and not rechunk:
            assert old is not None
            files[entry.path] = dict(old)
            passages += old_by_path.get(entry.path, [])
            diff.unchanged.append(entry.path)
            continue
        doc, warnings = read_document(entry)
        diff.warnings += warnings
        if doc is None:
            diff.skipped[entry.path] = {
                "size": entry.size,
                "mtime_ns": entry.mtime_ns,
                "reason": warnings[-1] if warnings else "unreadable",
            }
            continue
        meta = _file_meta(entry, doc)
        chunks = chunk_document(doc, embedder.count_tokens, settings) if rechunk else None
        if old and old["sha256"] == doc.sha256:  # touched, not edited
            files[entry.path] = {**old, **meta}
            passages += chunks if chunks is not None else old_by_path.get(entry.path, [])
            diff.unchanged.append(entry.path)
            continue
        moved_from = None if old else removed_by_hash.get(doc.sha256)
        if moved_from is not None and old_files[moved_from]["kind"] != doc.kind:
            moved_from = None  # page.html -> page.txt: same bytes, other text; re-chunk
        if moved_from is not None:
            del removed_by_hash[doc.sha256]
            files[entry.path] = {**old_files[moved_from], **meta}
            moved = [replace(p, path=entry.path) for p in old_by_path.get(moved_from, [])]
            passages += chunks if chunks is not None else moved
            diff.renamed.append((moved_from, entry.path))
            continue
        files[entry.path] = meta
        passages += (
            chunks if chunks is not None else chunk_document(doc, embedder.count_tokens, settings)
        )
        (diff.changed if old else diff.added).append(entry.path)
    moved_away = {old for old, _ in diff.renamed}
    diff.removed = sorted(p for p in old_files if p not in files and p not in moved_away)
    counts = Counter(p.path for p in passages)
    for path, meta in files.items():
        meta["passages"] = counts[path]
    return files, passages


def _file_meta(entry: FileEntry, doc: Document) -> dict[str, Any]:
    return {
        "size": entry.size,
        "mtime_ns": entry.mtime_ns,
        "sha256": doc.sha256,
        "kind": doc.kind,
        "title": doc.title,
        "published": doc.published,
        "author": doc.author,
        "passages": None,
    }
