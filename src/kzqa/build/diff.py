"""The corpus against the previous generation: which files are new, edited, moved or gone,
and the passages of the next generation (old ones reused, only new or edited files chunked)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..chunking import ChunkSettings, chunk_document
from ..corpus import FileEntry, Scan, compare, read_document, same_stat
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
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    recorded: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[Passage]]:
    """The new manifest's files and the new generation's passages; fills `diff`.

    Files the change check (corpus.compare) calls unchanged keep their passages unread; the
    others are read and hashed (all of them when `rechunk`, after a chunking change), and
    `progress("reading", bytes)` is told as each is read and chunked. `recorded`: the files
    the manifest lists when the build cannot build on its generation (--full, damage), so the
    report still says which files changed rather than calling them all added.
    """
    old_files = previous.manifest.files if previous else {}
    compared = old_files or recorded or {}  # what the report compares with
    old_skipped = previous.manifest.skipped if previous else {}
    old_by_path: dict[str, list[Passage]] = {}
    for p in previous.passages if previous else ():
        old_by_path.setdefault(p.path, []).append(p)
    changes = compare(scan, old_files, old_skipped)
    unchanged, still_skipped = set(changes.unchanged), set(changes.still_skipped)
    gone = changes.removed + [old for old, _ in changes.renamed]
    removed_by_hash = {old_files[path]["sha256"]: path for path in gone}

    diff.warnings += scan.warnings
    for entry, warning in scan.passed:  # warned about once, until the file changes
        known = old_skipped.get(entry.path)
        if known is None or not same_stat(entry, known) or known.get("reason") != warning:
            diff.warnings.append(warning)
        diff.skipped[entry.path] = _skipped(entry, warning)
    files: dict[str, dict[str, Any]] = {}
    passages: list[Passage] = []
    reads = {
        e.path: e.size
        for e in scan.files
        if e.path not in still_skipped and (rechunk or e.path not in unchanged)
    }
    advance = progress("reading", sum(reads.values())) if progress and reads else None
    for entry in _told(scan.files, reads, advance):
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
            diff.skipped[entry.path] = _skipped(entry, warnings[-1] if warnings else "unreadable")
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
        before = old or compared.get(entry.path)
        if before is not None and before.get("sha256") == doc.sha256:
            diff.unchanged.append(entry.path)  # rebuilt, its text the same
        else:
            (diff.changed if before else diff.added).append(entry.path)
    moved_away = {old for old, _ in diff.renamed}
    diff.removed = sorted(p for p in compared if p not in files and p not in moved_away)
    counts = Counter(p.path for p in passages)
    for path, meta in files.items():
        meta["passages"] = counts[path]
    return files, passages


def _told(
    entries: Iterable[FileEntry], reads: dict[str, int], advance: Callable[[int], None] | None
) -> Iterator[FileEntry]:
    """entries; once the loop is done with one that is read, advance(its size)."""
    for entry in entries:
        yield entry
        if advance is not None and entry.path in reads:
            advance(reads[entry.path])


def _skipped(entry: FileEntry, reason: str) -> dict[str, Any]:
    """A manifest `skipped` entry: the file's stat data, and the warning it was given."""
    return {"size": entry.size, "mtime_ns": entry.mtime_ns, "reason": reason}


def _file_meta(entry: FileEntry, doc: Document) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "size": entry.size,
        "mtime_ns": entry.mtime_ns,
        "sha256": doc.sha256,
        "kind": doc.kind,
        "title": doc.title,
        "published": doc.published,
        "author": doc.author,
        "passages": None,
    }
    if doc.pages:  # PDF: where each page starts in the text, for a citation's page
        meta["pages"] = list(doc.pages)
    if doc.page_labels:
        meta["page_labels"] = list(doc.page_labels)
    return meta
