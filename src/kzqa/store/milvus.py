"""`store: milvus`: passages, their vectors and their BM25 terms in one Milvus collection.

The same code talks to Milvus Lite (a file path: an embedded server in this process) and to a
Milvus server or cluster (http://host:19530). pymilvus is imported only here, and only when a
Milvus index is built or searched: the FAISS path never loads it.

One row per passage, keyed by passage_key() (what the passage is: the index fingerprint, its
file, its span and its text). Rows are never rewritten; a build inserts the passages it has
not seen and marks the ones that are gone. Each row carries two generation numbers:

    born  the build that inserted it        dead  the build that removed it (NEVER: none yet)

and a search of generation G sees exactly the rows with `born <= G and dead > G`. The local
manifest (written last, as for FAISS) names the live G, so a build of G+1 that is killed
part way leaves rows that generation G's filter does not see (born = G+1) or still sees
(dead = G+1): the last complete state keeps answering, unchanged. The next build first undoes
those leftovers (prepare()), and after its commit deletes the rows no reader can see any more
(purge()), keeping those of the generation before, which a reader that opened it just before
the switch may still be searching.

Why not two collections and an alias swap: the swap is atomic too, but every build would copy
the whole collection (100M rows: hours, and twice the memory while both are loaded), where a
generation field makes an update cost what changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..records import Passage

if TYPE_CHECKING:
    import numpy as np

KIND = "milvus"  # manifest index_type["kind"] of a Milvus index
NEVER = 2**62  # `dead` of a row that no committed build has removed
BATCH = 256  # rows per insert / upsert call: Lite is pure Python; a server takes 64 MB messages
TEXT_BYTES = 65_535  # Milvus's VARCHAR limit
PATH_BYTES = 4_096
# BM25 in Milvus reads `terms`: kzqa's own BM25 tokens (lowercased words without English
# stopwords, Snowball-stemmed; search.lexical.tokenize_queries) joined by spaces, which
# Milvus's standard tokenizer splits back into exactly those tokens. So both backends score
# the same terms; Milvus's own English analyzer (a different stemmer, and none at all in
# Milvus Lite 3.x, which has only "standard" and "jieba") would not.
ANALYZER = {"tokenizer": "standard"}
INSTALL = "pip install 'kzqa[milvus]'"
# pymilvus pings its server every 10 s; Milvus Lite's in-process gRPC server allows far fewer
# and after a few minutes answers GOAWAY "too_many_pings", which gRPC prints on stderr. The
# server is in this process: no ping is needed to know it is alive.
LITE_GRPC = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": False}
LITE_DB = "milvus.db"  # milvus.uri "": Milvus Lite's data folder inside the index folder


def passage_key(p: Passage, fingerprint: str) -> str:
    """The row key of a passage: changes when its text, span, file or the index's fingerprint
    (model + chunking) does, so a row never needs rewriting, only inserting or deleting."""
    raw = f"{fingerprint}\0{p.path}\0{p.start_char}\0{p.end_char}\0{p.hash}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def resolve(uri: str, index_dir: Path) -> str:
    """The URI to connect to: milvus.uri as the config (and the manifest) records it, where ""
    is Milvus Lite's data inside the index folder, so the folder can move or be copied."""
    return uri or str(index_dir / LITE_DB)


def is_server(uri: str) -> bool:
    """A Milvus server's URL (http://host:19530), not a Milvus Lite file."""
    return "://" in uri


def _clip(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _wrapped(params: dict[str, Any]) -> dict[str, Any]:
    """Index parameters as one JSON "params" entry: pymilvus 3 sends each key on its own,
    which a Milvus server reads but Milvus Lite 3.2 ignores (it kept BM25 at k1=1.5, b=0.75:
    COVID-QA nDCG@10 0.681 against 0.711); both read the wrapped form."""
    return {"params": params} if params else {}


class MilvusStore:
    """One kzqa collection in Milvus: created, filled and searched by generation."""

    def __init__(self, uri: str, collection: str) -> None:
        self.uri = uri
        self.collection = collection

    @cached_property
    def client(self) -> Any:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise StoreError("store: milvus needs pymilvus", hint=INSTALL) from None
        if not is_server(self.uri):
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            if is_server(self.uri):
                return MilvusClient(self.uri)
            return MilvusClient(self.uri, grpc_options=LITE_GRPC)
        except Exception as exc:  # pymilvus and Milvus Lite raise many types
            raise StoreError(
                f"cannot open Milvus at {self.uri}: {exc}",
                hint="Milvus Lite lets one process at a time open its file (stop the other "
                "kzqa, or use a Milvus server)"
                if not is_server(self.uri)
                else "check milvus.uri in kzqa.yaml and that the server is up",
            ) from None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(
                f"Milvus ({self.uri}, collection {self.collection}) failed to {what}: {exc}",
                hint="run `kzqa index --full` to rebuild it",
            ) from None

    def exists(self) -> bool:
        return bool(self._call("list collections", self.client.has_collection, self.collection))

    def dimension(self) -> int | None:
        """The collection's vector dimension; None when there is no collection."""
        if not self.exists():
            return None
        info = self._call("describe", self.client.describe_collection, self.collection)
        for f in info["fields"]:
            if f["name"] == "vector":
                return int(f["params"]["dim"])
        return None

    def create(self, dimension: int, dense: dict[str, Any], k1: float, b: float) -> None:
        """A new, empty collection (any old one of that name is dropped)."""
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        if self.exists():
            self._call("drop the collection", c.drop_collection, self.collection)
        schema = c.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=32)
        schema.add_field("path", DataType.VARCHAR, max_length=PATH_BYTES)
        for name in ("start_char", "end_char", "start_line", "end_line", "born", "dead"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field(
            "terms",
            DataType.VARCHAR,
            max_length=TEXT_BYTES,
            enable_analyzer=True,
            analyzer_params=ANALYZER,
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["terms"],
                output_field_names=["sparse"],
            )
        )
        index = c.prepare_index_params()
        index.add_index(
            "vector",
            index_type=dense["index_type"],
            metric_type="IP",  # vectors are unit length: IP is the cosine
            params=_wrapped(dense.get("params", {})),
        )
        index.add_index(
            "sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params=_wrapped({"bm25_k1": k1, "bm25_b": b}),
        )
        self._call(
            "create the collection",
            c.create_collection,
            self.collection,
            schema=schema,
            index_params=index,
        )

    def load(self) -> None:
        self._call("load the collection", self.client.load_collection, self.collection)

    def prepare(self, live: int) -> None:
        """Undo what a build killed after generation `live` left: its inserted rows and its
        removal marks."""
        c = self.client
        self.load()
        self._call("delete rows", c.delete, self.collection, filter=f"born > {live}")
        marked = self.keys(f"dead > {live} and dead < {NEVER}")
        self._set_dead(marked, NEVER)

    def insert(
        self,
        generation: int,
        passages: Sequence[Passage],
        keys: Sequence[str],
        terms: Sequence[str],
        vectors: np.ndarray,
    ) -> None:
        """Insert these passages as born in `generation`."""
        for start in range(0, len(passages), BATCH):
            rows = [
                {
                    "key": keys[i],
                    "path": _clip(p.path, PATH_BYTES),
                    "start_char": p.start_char,
                    "end_char": p.end_char,
                    "start_line": p.start_line,
                    "end_line": p.end_line,
                    "text": _clip(p.text, TEXT_BYTES),
                    "terms": _clip(terms[i], TEXT_BYTES),
                    "vector": vectors[i].tolist(),
                    "born": generation,
                    "dead": NEVER,
                }
                for i, p in enumerate(passages[start : start + BATCH], start)
            ]
            self._call("insert rows", self.client.insert, self.collection, rows)

    def remove(self, keys: Iterable[str], generation: int) -> None:
        """Mark these rows as gone from `generation` on (still seen by the ones before)."""
        self._set_dead(list(keys), generation)

    def _set_dead(self, keys: list[str], dead: int) -> None:
        for start in range(0, len(keys), BATCH):
            rows = [{"key": k, "dead": dead} for k in keys[start : start + BATCH]]
            # partial_update: only `dead` changes; the vectors and text are not sent again
            self._call("mark rows", self.client.upsert, self.collection, rows, partial_update=True)

    def flush(self) -> None:
        """Make what was written durable before the manifest names it."""
        self._call("flush", self.client.flush, self.collection)

    def purge(self, keep_from: int) -> None:
        """Delete the rows no generation from `keep_from` on sees."""
        self._call(
            "delete rows", self.client.delete, self.collection, filter=f"dead <= {keep_from}"
        )

    @staticmethod
    def live(generation: int) -> str:
        """The filter that shows exactly generation's rows."""
        return f"born <= {generation} and dead > {generation}"

    def keys(self, where: str) -> list[str]:
        """The keys of the rows that match a filter."""
        if not is_server(self.uri):  # Lite returns them all at once
            rows = self._call(
                "read keys", self.client.query, self.collection, filter=where, output_fields=["key"]
            )
            return [row["key"] for row in rows]
        it = self._call(  # a server caps one query's rows (16,384): page through them
            "read keys",
            self.client.query_iterator,
            self.collection,
            batch_size=4096,
            filter=where,
            output_fields=["key"],
        )
        out: list[str] = []
        try:
            while batch := self._call("read keys", it.next):
                out.extend(row["key"] for row in batch)
        finally:
            it.close()
        return out

    def count(self, generation: int) -> int:
        rows = self._call(
            "count rows",
            self.client.query,
            self.collection,
            filter=self.live(generation),
            output_fields=["count(*)"],
        )
        return int(rows[0]["count(*)"])

    def search_dense(
        self, queries: np.ndarray, k: int, generation: int, ef: int
    ) -> list[list[tuple[str, float]]]:
        """Top-k (key, inner product) per query vector, best first."""
        found = self._call(
            "search vectors",
            self.client.search,
            self.collection,
            data=[q.tolist() for q in queries],
            anns_field="vector",
            limit=k,
            filter=self.live(generation),
            output_fields=["key"],
            search_params={"metric_type": "IP", "params": {"ef": max(ef, k)}},
        )
        return [[(h["entity"]["key"], float(h["distance"])) for h in hits] for hits in found]

    def search_bm25(
        self, queries: Sequence[str], k: int, generation: int
    ) -> list[list[tuple[str, float]]]:
        """Top-k (key, BM25 score) per query (space-separated terms), best first; an empty
        query finds nothing."""
        out: list[list[tuple[str, float]]] = [[] for _ in queries]
        asked = [i for i, q in enumerate(queries) if q]
        if not asked:
            return out
        found = self._call(
            "search BM25",
            self.client.search,
            self.collection,
            data=[queries[i] for i in asked],
            anns_field="sparse",
            limit=k,
            filter=self.live(generation),
            output_fields=["key"],
            search_params={"metric_type": "BM25"},
        )
        for i, hits in zip(asked, found, strict=True):
            # Milvus Lite reports BM25 as a distance (the score negated); a server as the
            # score. Either way the magnitude is the score.
            out[i] = [(h["entity"]["key"], abs(float(h["distance"]))) for h in hits]
        return out
