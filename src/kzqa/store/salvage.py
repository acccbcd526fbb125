"""What can still be trusted in damaged generations: passage by passage, their vectors.

A generation can no longer be used whole once one of its files is damaged (a truncated
vectors.npy, a line of passages.jsonl overwritten), but most of its rows usually still are. A
build that finds the live generation damaged takes from here every passage whose text matches
its hash and whose vectors are finite and of unit length, from the live generation and the
one kept before it, so it embeds again only what was lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..records import Passage, text_hash
from .generation import UNIT_TOLERANCE, UNIT_TOLERANCE_F16, unit_length
from .manifest import PASSAGES, SENTENCES, VECTORS, Manifest, read_manifest

if TYPE_CHECKING:
    import numpy as np

Row = tuple[Passage, "np.ndarray", "np.ndarray"]  # passage, its vector, its sentences' vectors


def trusted_rows(index_dir: Path, model_fingerprint: str, dimension: int) -> Iterator[Row]:
    """Every row of kzqa's generations under index_dir (the live one first) that was embedded
    by this model and still reads back sound."""
    for folder, manifest in _generations(index_dir):
        if (manifest.model_fingerprint, manifest.dimension) == (model_fingerprint, dimension):
            yield from _rows(folder, dimension)


def _generations(index_dir: Path) -> Iterator[tuple[Path, Manifest]]:
    """Each generation folder with the manifest that describes it: the live one's, then the
    copy each generation keeps of its own (store.commit), newest first."""
    live = None
    try:
        live = read_manifest(index_dir)
    except StoreError:
        pass
    if live is not None:
        yield index_dir / live.generation, live
    for folder in sorted(index_dir.glob("gen-*"), reverse=True):
        if live is not None and folder.name == live.generation:
            continue
        try:
            own = read_manifest(folder)
        except StoreError:
            continue
        if own is not None and own.generation == folder.name:
            yield folder, own


def _rows(folder: Path, dimension: int) -> Iterator[Row]:
    import numpy as np

    passages = _passages(folder / PASSAGES)
    vectors = _matrix(folder / VECTORS, dimension)
    sentences = _matrix(folder / SENTENCES, dimension)
    if vectors is None:
        return
    at = 0  # first sentence row of the passage; unknown past an unreadable passage line
    for row, p in enumerate(passages):
        if p is None:
            sentences = None
            continue
        count = len(p.sentence_spans())
        if sentences is not None and at + count <= len(sentences) and row < len(vectors):
            vector = np.asarray(vectors[row], dtype=np.float32)
            mine = np.asarray(sentences[at : at + count], dtype=np.float32)
            if unit_length(vector[None, :], UNIT_TOLERANCE) and unit_length(
                mine, UNIT_TOLERANCE_F16
            ):
                yield p, vector, mine
        at += count


def _passages(path: Path) -> list[Passage | None]:
    """passages.jsonl line by line: a line that does not parse or match its hash is None."""
    out: list[Passage | None] = []
    try:
        with path.open("rb") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                    row["sentences"] = tuple(tuple(s) for s in row["sentences"])
                    p = Passage(**row)
                except (ValueError, TypeError, KeyError):
                    out.append(None)
                    continue
                out.append(p if p.hash and text_hash(p.text) == p.hash else None)
    except OSError:
        pass
    return out


def _matrix(path: Path, dimension: int) -> np.ndarray | None:
    """The complete rows of an .npy file of `dimension` columns, mapped, also when it was cut
    short (its header says more rows than it holds); None when unreadable."""
    import numpy as np

    try:
        with path.open("rb") as fh:
            fmt = np.lib.format
            version = fmt.read_magic(fh)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    if fortran or len(shape) != 2 or shape[1] != dimension:
        return None
    rows = min(shape[0], (size - offset) // (dimension * dtype.itemsize))
    if rows <= 0:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(rows, dimension))
