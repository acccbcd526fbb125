"""One vector per passage and one per sentence: reused from the previous generation or the
journal where the passage is known, embedded (and journaled as they come) where it is not."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..embed import Embedder
from ..records import Passage
from ..store import Generation, trusted_rows
from ..store.journal import JournalWriter, journal_path, read_journal

if TYPE_CHECKING:
    import numpy as np

# (what, total) -> advance(n): what is "reading" (total and n in bytes of corpus files) or
# "embedding" (in passages). The CLI draws a bar for each on a terminal.
ProgressFactory = Callable[[str, int], Callable[[int], None]]
JOURNAL_STEP = 256  # passages embedded between journal writes: a kill loses at most these


def embed_key(p: Passage) -> str:
    """What a passage's vectors depend on: its text, and where its sentences fall in it."""
    return hashlib.sha256(f"{p.hash} {p.relative_spans()}".encode()).hexdigest()


def salvage(index_dir: Path, embedder: Embedder) -> dict[str, tuple[Any, Any]]:
    """The vectors (and sentence vectors) of every passage of the damaged index's generations
    that still reads back sound, by embed_key (store.trusted_rows)."""
    rows = trusted_rows(index_dir, embedder.fingerprint, embedder.dimension)
    return {embed_key(p): (vector, sentences) for p, vector, sentences in rows}


def vectors_for(
    index_dir: Path,
    passages: list[Passage],
    previous: Generation | None,
    embedder: Embedder,
    progress: ProgressFactory | None = None,
    trusted: dict[str, tuple[Any, Any]] | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Passage vectors (float32), sentence vectors (float16, store.SENTENCES), and how many
    passages were embedded and how many reused their vectors (from `previous`, the journal,
    or `trusted`: salvage() of a damaged index)."""
    import numpy as np

    known: dict[str, tuple[Any, Any]] = dict(trusted or {})
    if previous is not None:
        old = previous.vectors
        for i, p in enumerate(previous.passages):
            known[embed_key(p)] = (old[i], previous.sentence_vectors(i))
    journal_file = journal_path(index_dir, embedder.fingerprint)
    journal = read_journal(journal_file, embedder.dimension)
    known.update((key, found) for key, found in journal.vectors.items() if found[1] is not None)
    keys = [embed_key(p) for p in passages]
    missing: dict[str, Passage] = {}
    for key, p in zip(keys, passages, strict=True):
        if key not in known:
            missing.setdefault(key, p)
    if missing:
        advance = progress("embedding", len(missing)) if progress else None
        writer = JournalWriter(journal_file, journal.end)
        try:
            todo = list(missing)
            for i in range(0, len(todo), JOURNAL_STEP):
                batch = todo[i : i + JOURNAL_STEP]
                texts = [missing[key].text for key in batch]
                spans = [missing[key].relative_spans() for key in batch]
                vecs, sentences = embedder.embed_passages(texts, spans, progress=advance)
                writer.append(batch, vecs, sentences)
                for row, key in enumerate(batch):
                    known[key] = (vecs[row], sentences[row])
        finally:
            writer.close()
    out = np.zeros((len(passages), embedder.dimension), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = known[key][0]
    sentence_rows = [known[key][1] for key in keys]
    dim = embedder.dimension
    stacked = np.vstack(sentence_rows) if sentence_rows else np.zeros((0, dim))
    reused = sum(1 for key in keys if key not in missing)
    return out, stacked.astype(np.float16), len(missing), reused
