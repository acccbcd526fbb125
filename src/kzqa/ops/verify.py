"""`kzqa verify`: the index against its manifest and the corpus, every part checked."""

from __future__ import annotations

from dataclasses import dataclass

from .. import store
from ..config import Config
from ..corpus import changes_since
from ..errors import KzqaError, StoreError
from ..files import sha256_file
from ..search.dense import open_dense
from ..search.lexical import open_lexical, open_vocabulary
from ..store.milvus import KIND, MilvusStore, passage_key, resolve


@dataclass(frozen=True)
class Verdict:
    problems: list[str]  # every mismatch found, one line each; none: all is well
    # The one command that mends them: `kzqa index --full` when the index itself is damaged
    # (it rebuilds every file and embeds again only passages whose vectors were lost),
    # `kzqa index` when only the corpus moved; None when all is well.
    next: str | None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_index(cfg: Config) -> Verdict:
    """The index checked against its manifest (every file hashed) and the corpus."""
    manifest = store.read_manifest(cfg.index)
    if manifest is None:
        raise StoreError(f"no index in {cfg.index}", hint="run `kzqa index`")
    index_problems = _index_problems(cfg, manifest)
    corpus_problems = _corpus_problems(cfg, manifest)
    if index_problems:
        return Verdict(index_problems + corpus_problems, "kzqa index --full")
    return Verdict(corpus_problems, "kzqa index" if corpus_problems else None)


def _index_problems(cfg: Config, manifest: store.Manifest) -> list[str]:
    """What is wrong with the index's own files, each hashed against the manifest."""
    problems: list[str] = []
    try:
        gen = store.Generation(cfg.index, manifest)
        damaged = gen.damaged_files()
        if damaged:
            return [
                f"index file {gen.folder / name} is damaged (checksum mismatch)" for name in damaged
            ]
        counts = {"passages.jsonl": len(gen.passages), "vectors.npy": len(gen.vectors)}
        if manifest.index_type.get("kind") == KIND:
            problems += _verify_milvus(gen)
        else:
            dense = open_dense(gen)
            counts |= {"dense.faiss": dense.ntotal, "bm25": open_lexical(gen).size}
            if dense.d != manifest.dimension:
                problems.append(
                    f"vectors have dimension {dense.d}; the manifest says {manifest.dimension}"
                )
    except KzqaError as exc:
        return [exc.message]
    for name, n in counts.items():
        if n != manifest.passages:
            problems.append(f"{name} holds {n} entries; the manifest says {manifest.passages}")
    try:
        from ..embed import onnx_damage

        damage = onnx_damage(cfg.index / manifest.onnx) if manifest.onnx else None
        if damage:
            problems.append(f"the question encoder: {damage}")
    except KzqaError as exc:
        problems.append(exc.message)
    per_file: dict[str, int] = {}
    for p in gen.passages:
        per_file[p.path] = per_file.get(p.path, 0) + 1
    for path, meta in sorted(manifest.files.items()):
        if per_file.get(path, 0) != meta.get("passages"):
            problems.append(
                f"{path}: {per_file.get(path, 0)} passages stored, manifest says "
                f"{meta.get('passages')}"
            )
    return problems


def _corpus_problems(cfg: Config, manifest: store.Manifest) -> list[str]:
    """What moved since the build: the model setting, and each file (hashed, not stat'ed)."""
    from ..embed import model_fingerprint

    problems = []
    try:
        if model_fingerprint(cfg.model) != manifest.model_fingerprint:
            problems.append(
                f"model '{cfg.model}' is not the one the index was built with ('{manifest.model}')"
            )
    except KzqaError as exc:
        problems.append(exc.message)
    for path, meta in sorted(manifest.files.items()):
        full = cfg.corpus / path
        if not full.is_file():
            problems.append(f"{path} is indexed but no longer in the corpus")
        elif sha256_file(full) != meta["sha256"]:
            problems.append(f"{path} changed since it was indexed")
    if cfg.corpus.is_dir():
        for path in changes_since(cfg.corpus, cfg.index, manifest.files, manifest.skipped).added:
            problems.append(f"{path} is in the corpus but not indexed")
    return problems


def _verify_milvus(gen: store.Generation) -> list[str]:
    """The collection shows this generation exactly its passages, with vectors of the
    manifest's dimension; the local vocabulary reads."""
    info = gen.manifest.index_type
    milvus = MilvusStore(resolve(info["uri"], gen.index_dir), info["collection"])
    where = f"Milvus collection {info['collection']}"
    dim = milvus.dimension()
    if dim is None:
        return [f"the {where} is missing"]
    problems = []
    if dim != gen.manifest.dimension:
        problems.append(
            f"the {where} has dimension {dim}; the manifest says {gen.manifest.dimension}"
        )
    milvus.load()
    shown = set(milvus.keys(milvus.live(int(info["generation"]))))
    fp = gen.manifest.fingerprint
    wanted = {passage_key(p, fp) for p in gen.passages}
    if shown != wanted:
        problems.append(
            f"the {where} shows {len(shown)} passages for generation {info['generation']}: "
            f"{len(wanted - shown)} of the index's are missing, {len(shown - wanted)} are extra"
        )
    open_vocabulary(gen)
    return problems
