"""Vectors embedded by a build that has not committed yet, so a killed build can resume.

Records are appended as each batch is embedded: the 32-byte key of the passage (see
build.vectors.embed_key), the number of its sentence vectors (uint32, little-endian), the
CRC-32 of what follows (uint32), then its float32 vector and its sentence vectors. Reading
stops at the first record that is cut short or fails its checksum (a crash, or a power cut
that left garbage where data should be): that record and anything after it are embedded again.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np

HASH_BYTES = 32
HEADER = HASH_BYTES + 4 + 4  # key, sentence count, CRC-32 of the vectors
VERSION = 3  # 2: sentence vectors follow each passage vector; 3: a checksum per record
MAX_SENTENCES = 1 << 16  # a count above this is garbage, not a passage


def journal_path(index_dir: Path, fingerprint: str) -> Path:
    return index_dir / f"journal-{fingerprint}-v{VERSION}.bin"


@dataclass
class Journal:
    """What a journal file holds: its sound records, and where they end."""

    vectors: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    end: int = 0  # bytes of sound records: a resumed build appends from here


def read_journal(path: Path, dimension: int) -> Journal:
    """key -> (passage vector, sentence vectors or None) of each sound record (one read)."""
    import numpy as np

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Journal()
    journal = Journal()
    pos = 0
    while pos + HEADER <= len(data):
        count = int.from_bytes(data[pos + HASH_BYTES : pos + HASH_BYTES + 4], "little")
        crc = int.from_bytes(data[pos + HASH_BYTES + 4 : pos + HEADER], "little")
        end = pos + HEADER + 4 * dimension * (1 + count)
        if count > MAX_SENTENCES or end > len(data):
            break
        if zlib.crc32(data[pos + HEADER : end]) != crc:
            break
        floats = dimension * (1 + count)
        block = np.frombuffer(data, np.float32, floats, pos + HEADER).reshape(1 + count, dimension)
        key = data[pos : pos + HASH_BYTES].hex()
        journal.vectors[key] = (block[0], block[1:] if count else None)
        pos = journal.end = end
    return journal


class JournalWriter:
    """Appends records after the sound ones (`end`), dropping whatever followed them."""

    def __init__(self, path: Path, end: int) -> None:
        self.path = path
        self.fh: BinaryIO = path.open("ab")
        if self.fh.tell() != end:  # a record cut short or damaged by a crash: drop it
            self.fh.truncate(end)
            self.fh.seek(0, 2)

    def append(
        self, keys: list[str], vectors: np.ndarray, sentences: list[np.ndarray] | None
    ) -> None:
        import numpy as np

        for row, key in enumerate(keys):
            extra = sentences[row] if sentences is not None else vectors[:0]
            payload = np.ascontiguousarray(vectors[row], dtype=np.float32).tobytes()
            payload += np.ascontiguousarray(extra, dtype=np.float32).tobytes()
            header = bytes.fromhex(key) + len(extra).to_bytes(4, "little")
            self.fh.write(header + zlib.crc32(payload).to_bytes(4, "little") + payload)
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()
