"""Vectors embedded by a build that has not committed yet, so a killed build can resume.

Records are appended as each batch is embedded: the 32-byte key of the passage (see
build.embed_key), the number of its sentence vectors (uint32, little-endian), then its float32
vector and its sentence vectors. A record cut short by a crash is ignored on reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np

HASH_BYTES = 32
HEADER = HASH_BYTES + 4
VERSION = 2  # 2: sentence vectors follow each passage vector


def journal_path(index_dir: Path, fingerprint: str) -> Path:
    return index_dir / f"journal-{fingerprint}-v{VERSION}.bin"


def _records(data: bytes, dimension: int) -> Iterator[tuple[str, int, int]]:
    """(key, sentence count, offset of the vectors) of each complete record."""
    pos = 0
    while pos + HEADER <= len(data):
        count = int.from_bytes(data[pos + HASH_BYTES : pos + HEADER], "little")
        end = pos + HEADER + 4 * dimension * (1 + count)
        if end > len(data):
            return
        yield data[pos : pos + HASH_BYTES].hex(), count, pos + HEADER
        pos = end


def read_journal(path: Path, dimension: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """key -> (passage vector, sentence vectors or None) for every complete record."""
    import numpy as np

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    found = {}
    for key, count, start in _records(data, dimension):
        block = np.frombuffer(data, dtype=np.float32, count=dimension * (1 + count), offset=start)
        block = block.reshape(1 + count, dimension)
        found[key] = (block[0], block[1:] if count else None)
    return found


def complete_size(path: Path, dimension: int) -> int:
    """Bytes of the journal's complete records (what a resumed build keeps)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    end = 0
    for _, count, start in _records(data, dimension):
        end = start + 4 * dimension * (1 + count)
    return end


class JournalWriter:
    def __init__(self, path: Path, dimension: int) -> None:
        self.path = path
        keep = complete_size(path, dimension)
        self.fh: BinaryIO = path.open("ab")
        if self.fh.tell() != keep:  # a record cut short by a crash: drop it
            self.fh.truncate(keep)
            self.fh.seek(0, 2)

    def append(
        self, keys: list[str], vectors: np.ndarray, sentences: list[np.ndarray] | None
    ) -> None:
        import numpy as np

        for row, key in enumerate(keys):
            extra = sentences[row] if sentences is not None else vectors[:0]
            self.fh.write(bytes.fromhex(key) + len(extra).to_bytes(4, "little"))
            self.fh.write(np.ascontiguousarray(vectors[row], dtype=np.float32).tobytes())
            self.fh.write(np.ascontiguousarray(extra, dtype=np.float32).tobytes())
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()
