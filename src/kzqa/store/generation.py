"""One committed build (a gen-* folder), opened read-only; heavy parts load on first use."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..files import sha256_file
from ..records import Passage, text_hash
from .manifest import PASSAGES, REBUILD, SENTENCES, VECTORS, Manifest, read_manifest

if TYPE_CHECKING:
    import numpy as np

UNIT_TOLERANCE = 1e-3  # stored vectors are unit length; float32 rounding stays far inside this
UNIT_TOLERANCE_F16 = 1e-2  # sentence vectors are stored as float16 (3 significant digits)
CHECK_ROWS = 65_536  # vectors checked at a time: bounded memory on a large index


def unit_length(vectors: np.ndarray, tolerance: float) -> bool:
    """Whether every row is finite and of length 1 (within tolerance): what a stored vector
    is, and garbage written in its place (inf, NaN, anything) is not."""
    import numpy as np

    block = np.asarray(vectors, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(block, axis=1)
    return bool(np.all(np.abs(norms - 1) <= tolerance))  # NaN fails too


class Generation:
    """One committed build, opened read-only. Heavy parts load on first use."""

    def __init__(self, index_dir: Path, manifest: Manifest) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self.folder = index_dir / manifest.generation
        if not self.folder.is_dir():
            raise StoreError(f"index generation {self.folder} is missing", hint=REBUILD)
        for name, size in manifest.artifacts.items():
            try:
                actual = (self.folder / name).stat().st_size
            except OSError:
                actual = -1
            if actual != size:
                raise StoreError(
                    f"index file {self.folder / name} is damaged (size {actual}, expected {size})",
                    hint=REBUILD,
                )

    def check_reusable(self) -> None:
        """Raise StoreError unless the generation reads back sound, cheaply: a file whose size
        or time moved since the commit must match its checksum (only those are hashed, not
        the whole generation: `kzqa verify` does that); passages must parse and match their
        hashes; vectors must be finite and of unit length. Garbage written in place (a power
        cut) fails the last two even where the file's time did not move."""

        bad = self.damaged_files(only_moved=True)
        if bad:
            raise StoreError(f"{', '.join(bad)} damaged", hint=REBUILD)
        for p in self.passages:
            if text_hash(p.text) != p.hash:
                raise StoreError(f"index file {self.folder / PASSAGES} is damaged", hint=REBUILD)
        sentences, _ = self.sentence_rows
        for name, vectors, tolerance in (
            (VECTORS, self.vectors, UNIT_TOLERANCE),
            (SENTENCES, sentences, UNIT_TOLERANCE_F16),
        ):
            for start in range(0, len(vectors), CHECK_ROWS):
                if not unit_length(vectors[start : start + CHECK_ROWS], tolerance):
                    raise StoreError(f"index file {self.folder / name} is damaged", hint=REBUILD)

    def damaged_files(self, only_moved: bool = False) -> list[str]:
        """Files whose content no longer matches the checksum recorded at commit
        (`only_moved`: a file whose modification time is the one recorded is not read)."""
        bad = []
        for name, digest in self.manifest.checksums.items():
            path = self.folder / name
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                bad.append(name)
                continue
            if only_moved and mtime == self.manifest.mtimes.get(name):
                continue
            if sha256_file(path) != digest:
                bad.append(name)
        return bad

    @cached_property
    def passages(self) -> list[Passage]:
        rows = []
        path = self.folder / PASSAGES
        try:
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    row["sentences"] = tuple(tuple(s) for s in row["sentences"])
                    rows.append(Passage(**row))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
        if len(rows) != self.manifest.passages:
            raise StoreError(
                f"{path} holds {len(rows)} passages, the manifest says {self.manifest.passages}",
                hint=REBUILD,
            )
        return rows

    @cached_property
    def vectors(self) -> np.ndarray:
        import numpy as np

        path = self.folder / VECTORS
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
        if vectors.shape != (self.manifest.passages, self.manifest.dimension):
            raise StoreError(
                f"{path} has shape {vectors.shape}, expected "
                f"({self.manifest.passages}, {self.manifest.dimension})",
                hint=REBUILD,
            )
        return vectors

    @cached_property
    def sentence_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """All answer-sentence vectors, and the row where each passage's first one is, plus
        one past the last."""
        import numpy as np

        starts = np.zeros(len(self.passages) + 1, dtype=np.int64)
        np.cumsum([len(p.sentence_spans()) for p in self.passages], out=starts[1:])
        path = self.folder / SENTENCES
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StoreError(f"index file {path} is damaged", hint=REBUILD) from exc
        if vectors.shape != (starts[-1], self.manifest.dimension):
            raise StoreError(
                f"{path} has shape {vectors.shape}, expected "
                f"({starts[-1]}, {self.manifest.dimension})",
                hint=REBUILD,
            )
        return vectors, starts

    def widen_sentences(self, limit: int) -> None:
        """Hold the sentence vectors as float32 from now on (a server's: widening the cited
        rows' float16 on every answer costs more), when that copy takes at most `limit` bytes.
        Exact: float16 widens without loss."""
        import numpy as np

        vectors, starts = self.sentence_rows
        if vectors.dtype != np.float32 and 2 * vectors.nbytes <= limit:
            self.sentence_rows = (np.asarray(vectors, dtype=np.float32), starts)

    def sentence_vectors(self, row: int) -> np.ndarray:
        """The stored vectors of passage row's sentences (float32)."""
        import numpy as np

        vectors, starts = self.sentence_rows
        return np.asarray(vectors[starts[row] : starts[row + 1]], dtype=np.float32)


def open_generation(index_dir: Path) -> Generation | None:
    manifest = read_manifest(index_dir)
    return Generation(index_dir, manifest) if manifest else None
