"""Vectors embedded by a build that has not committed yet, so a killed build can resume.

Fixed-size records appended as each batch is embedded: the 32-byte sha256 of the passage
text, then its float32 vector. A record cut short by a crash is ignored on reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np

HASH_BYTES = 32


def journal_path(index_dir: Path, fingerprint: str) -> Path:
    return index_dir / f"journal-{fingerprint}.bin"


def read_journal(path: Path, dimension: int) -> dict[str, np.ndarray]:
    import numpy as np

    record = HASH_BYTES + 4 * dimension
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    vectors = {}
    for start in range(0, len(data) - record + 1, record):
        key = data[start : start + HASH_BYTES].hex()
        vectors[key] = np.frombuffer(
            data, dtype=np.float32, count=dimension, offset=start + HASH_BYTES
        )
    return vectors


class JournalWriter:
    def __init__(self, path: Path, dimension: int) -> None:
        self.path = path
        self.fh: BinaryIO = path.open("ab")
        record = HASH_BYTES + 4 * dimension
        size = self.fh.tell()
        if size % record:  # a record cut short by a crash: drop it so new ones stay aligned
            self.fh.truncate(size - size % record)
            self.fh.seek(0, 2)

    def append(self, hashes: list[str], vectors: np.ndarray) -> None:
        import numpy as np

        for key, vector in zip(hashes, vectors, strict=True):
            self.fh.write(bytes.fromhex(key))
            self.fh.write(np.ascontiguousarray(vector, dtype=np.float32).tobytes())
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()
