"""A build's Milvus part (`store: milvus`): bring the collection to the new generation before
its manifest is written, and clean up after. The protocol (born/dead generation numbers, why
not an alias swap) is described in kzqa.store.milvus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..config import Config
from ..errors import StoreError
from ..files import write_text_atomic
from ..records import Passage
from ..search import lexical
from ..store.milvus import KIND, MilvusStore, is_server, passage_key, resolve

if TYPE_CHECKING:
    import numpy as np

# The dense index in Milvus. Milvus Lite searches exactly (FLAT: these are local corpora); a
# server builds HNSW with the config's ann.* parameters (docs/scale.md: when to prefer DiskANN
# or IVF-PQ instead).
FLAT = {"index_type": "FLAT"}


def dense_index(cfg: Config, uri: str) -> dict[str, Any]:
    if not uri or not is_server(uri):
        return FLAT
    return {
        "index_type": "HNSW",
        "params": {"M": cfg.hnsw_m, "efConstruction": cfg.hnsw_ef_construction},
    }


def layout(cfg: Config) -> dict[str, Any]:
    """What a Milvus index records in the manifest's index_type (the generation number is
    added by stage()); a build whose layout differs from the live one writes a new
    generation even when no file changed."""
    return {
        "kind": KIND,
        "uri": cfg.milvus_uri,  # "": the index folder's Milvus Lite (store.milvus.resolve)
        "collection": cfg.milvus_collection,
        "dense": dense_index(cfg, cfg.milvus_uri),
        "ef": cfg.hnsw_ef_search,
        "bm25": {"k1": lexical.K1, "b": lexical.B, "fields": lexical.FIELDS},
    }


def same_layout(cfg: Config, index_type: dict[str, Any]) -> bool:
    return {k: v for k, v in index_type.items() if k != "generation"} == layout(cfg)


def stage(
    cfg: Config,
    staging: Path,
    passages: list[Passage],
    vectors: np.ndarray,
    titles: dict[str, str | None],
    fingerprint: str,
    dimension: int,
    previous: store.Generation | None,
    full: bool,
    warnings: list[str],
) -> dict[str, Any]:
    """Write generation G+1 into the collection (visible to nobody until the manifest names
    it) and the local vocabulary into staging; returns the manifest's index_type."""
    wanted = layout(cfg)
    milvus = MilvusStore(resolve(wanted["uri"], cfg.index), wanted["collection"])
    live = _live(cfg, wanted)
    dim = milvus.dimension()
    if live is not None and dim != dimension:
        if dim is not None:
            warnings.append(
                f"the model's dimension changed ({dim} -> {dimension}): the Milvus collection "
                "is created anew; until this build commits, the index does not answer"
            )
        live = None
    if live is None or full:
        # A new collection: nothing of ours is in it, or --full asked to write it again.
        # (--full cannot keep the old rows answering: they share the new rows' keys.)
        milvus.create(dimension, wanted["dense"], lexical.K1, lexical.B)
        milvus.load()
        old: set[str] = set()
        live = 0
    else:
        milvus.prepare(live)
        old = set(_live_keys(milvus, live, previous))
    number = live + 1
    keys = [passage_key(p, fingerprint) for p in passages]
    texts = [lexical.with_title(p.text, titles[p.path]) for p in passages]
    terms = lexical.tokenize_queries(texts)
    new = [i for i, key in enumerate(keys) if key not in old]
    milvus.insert(
        number,
        [passages[i] for i in new],
        [keys[i] for i in new],
        [" ".join(terms[i]) for i in new],
        vectors[new],
    )
    milvus.remove(old.difference(keys), number)
    milvus.flush()
    vocabulary = sorted({t for ts in terms for t in ts})
    write_text_atomic(staging / lexical.VOCABULARY, json.dumps(vocabulary, ensure_ascii=False))
    return {**wanted, "generation": number}


def finish(index_dir: Path, index_type: dict[str, Any]) -> None:
    """After the commit: delete the rows neither the new generation nor the one before it
    sees (a reader that opened that one just before the switch may still be searching)."""
    milvus = MilvusStore(resolve(index_type["uri"], index_dir), index_type["collection"])
    milvus.purge(index_type["generation"] - 1)


def _live(cfg: Config, wanted: dict[str, Any]) -> int | None:
    """The generation number the live manifest names in this collection, if it does."""
    try:
        manifest = store.read_manifest(cfg.index)
    except StoreError:
        return None
    info = manifest.index_type if manifest else {}
    if info.get("kind") != KIND or (info.get("uri"), info.get("collection")) != (
        wanted["uri"],
        wanted["collection"],
    ):
        return None
    return int(info["generation"])


def _live_keys(milvus: MilvusStore, live: int, previous: store.Generation | None) -> list[str]:
    """The rows generation `live` shows: from the local passages when the previous generation
    is that one (no scan of the collection), else read from Milvus."""
    info = previous.manifest.index_type if previous else {}
    if previous is not None and info.get("kind") == KIND and info.get("generation") == live:
        fp = previous.manifest.fingerprint
        return [passage_key(p, fp) for p in previous.passages]
    return milvus.keys(milvus.live(live))
