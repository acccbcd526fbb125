"""manifest.json: the commit marker that names the live generation, and what it records."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import StoreError

# On-disk format version, checked on load. 2: every generation stores answer-sentence vectors
# and marks itself as kzqa's (OWNER); a format-1 index is rebuilt by the next build.
FORMAT = 2
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.npy"
# Answer-sentence vectors, float16: each passage's sentences in order, passages in row order.
SENTENCES = "sentences.npy"
DENSE = "dense.faiss"
BM25 = "bm25"
# In every folder kzqa creates under index/ (generations, staging): prune deletes only these.
OWNER = ".kzqa-generation"
REBUILD = "run `kzqa index --full` to rebuild it"
# What each manifest `files` entry holds, and of which type (checked on load).
FILE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "size": int,
    "mtime_ns": int,
    "sha256": str,
    "kind": str,
    "passages": int,
}
# Held by some entries only (PDFs), each a list of this type: where each page starts in the
# extracted text, and each page's printed label. An index without them still loads.
OPTIONAL_FILE_LISTS: dict[str, type] = {"pages": int, "page_labels": str}
SKIPPED_FIELDS: dict[str, type | tuple[type, ...]] = {"size": int, "mtime_ns": int}


class FormatError(StoreError):
    """The index was written in an older on-disk format: the next build replaces it."""

    def __init__(self, message: str, found: Any, generation: Any) -> None:
        super().__init__(message, hint="run `kzqa index`: it rebuilds the index")
        self.found = found
        # The generation the old manifest names: kzqa's own, though it predates OWNER.
        self.generation = generation if isinstance(generation, str) else None


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
    # File in the generation -> its modification time at commit. A build hashes again only
    # the files whose size or time moved since; `kzqa verify` hashes every one.
    mtimes: dict[str, int] = field(default_factory=dict)

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
        if isinstance(fmt, int) and fmt < FORMAT:
            raise FormatError(
                f"{path} is index format {fmt}; this kzqa reads format {FORMAT}",
                fmt,
                data.get("generation"),
            )
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
    for table in ("files", "skipped"):
        for name, entry in getattr(manifest, table).items():
            if not _entry_ok(entry, FILE_FIELDS if table == "files" else SKIPPED_FIELDS):
                raise StoreError(
                    f"{path} is damaged (its {table} entry for {name!r} is malformed)",
                    hint=REBUILD,
                )
    return manifest


def _entry_ok(entry: Any, wanted: dict[str, type | tuple[type, ...]]) -> bool:
    return (
        isinstance(entry, dict)
        and all(
            isinstance(entry.get(key), kind) and not isinstance(entry.get(key), bool)
            for key, kind in wanted.items()
        )
        and all(
            isinstance(entry[key], list)
            and all(isinstance(v, kind) and not isinstance(v, bool) for v in entry[key])
            for key, kind in OPTIONAL_FILE_LISTS.items()
            if key in entry
        )
    )
