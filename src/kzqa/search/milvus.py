"""Both retrievers of a `store: milvus` index, run in Milvus: dense (vector index) and BM25
(Milvus's BM25 function over kzqa's terms). They answer in passage rows of the local
generation, like the FAISS and bm25s legs, so fusion, the answer sentence, abstention and the
citation check run on the same records whichever store found the candidates."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from ..config import Config
from ..errors import StoreError
from ..records import Ranked
from ..store import REBUILD, Generation
from ..store.milvus import KIND, MilvusStore, passage_key, resolve
from .lexical import tokenize_queries

if TYPE_CHECKING:
    import numpy as np


class MilvusLegs:
    """The dense and BM25 searches of one committed generation in its Milvus collection."""

    def __init__(self, cfg: Config, generation: Generation) -> None:
        info = generation.manifest.index_type
        if info.get("kind") != KIND:
            raise StoreError(f"the index in {generation.folder} is not a Milvus index")
        self.cfg = cfg
        self.generation = generation
        self.number = int(info["generation"])
        self.ef = int(info.get("ef", cfg.hnsw_ef_search))
        # The collection the index was built into (a config changed since is the next
        # build's business, as a model change is).
        self.store = MilvusStore(resolve(info["uri"], generation.index_dir), info["collection"])

    @cached_property
    def rows(self) -> dict[str, int]:
        """Row key -> passage row in the local generation."""
        fp = self.generation.manifest.fingerprint
        return {passage_key(p, fp): row for row, p in enumerate(self.generation.passages)}

    @cached_property
    def opened(self) -> bool:
        """Connect and load the collection (once: preload() or the first question)."""
        self.store.load()
        return True

    def open(self) -> None:
        """Everything a search needs, loaded before the first question."""
        self.opened, self.rows  # noqa: B018

    def _ranked(self, found: list[list[tuple[str, float]]]) -> list[Ranked]:
        rows = self.rows
        out = []
        for hits in found:
            ranked = [(rows[key], score) for key, score in hits if key in rows]
            if len(ranked) < len(hits):  # a row this generation's filter shows is not ours
                raise StoreError(
                    f"the Milvus collection {self.store.collection} does not match the index "
                    f"in {self.generation.folder}",
                    hint=REBUILD,
                )
            out.append(ranked)
        return out

    def search_dense(self, queries: np.ndarray, k: int) -> list[Ranked]:
        self.opened  # noqa: B018
        return self._ranked(self.store.search_dense(queries, k, self.number, self.ef))

    def search_many(self, questions: Sequence[str], k: int) -> list[Ranked]:
        """BM25 top-k per question, the question read into terms as kzqa's BM25 reads it."""
        self.opened  # noqa: B018
        texts = [" ".join(terms) for terms in tokenize_queries(questions)]
        return self._ranked(self.store.search_bm25(texts, k, self.number))
