"""`kzqa eval`: retrieval quality on a BEIR-style dataset (nDCG@10, Recall@10/100, MRR@10).

A dataset folder holds corpus.jsonl (`_id`, `title`, `text`), queries.jsonl (`_id`, `text`),
qrels.tsv (`query-id`, `corpus-id`, `score`, with a header) and optionally answers.jsonl
(`_id`, `answers`: gold answer texts, for `answer@1`). Each corpus row becomes one file
(title, blank line, text) in a cache folder, indexed exactly as `kzqa index` would; a
document's rank is the rank of its best passage.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import UsageError
from ..files import cache_folder

DEPTH = 100  # documents ranked per query: enough for Recall@100
_TOKEN = re.compile(r"\w+")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: Path
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]  # query id -> text, only queries with a judgement
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade > 0}
    answers: dict[str, list[str]]  # query id -> gold answer texts (may be empty)


def load_dataset(folder: Path) -> Dataset:
    """Read a BEIR-style folder; queries without a positive judgement are left out."""
    folder = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
        if not (folder / name).is_file():
            raise UsageError(
                f"{folder} is not a BEIR-style dataset: {name} is missing",
                hint="it needs corpus.jsonl, queries.jsonl and qrels.tsv",
            )
    corpus = {
        str(row["_id"]): (str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _jsonl(folder / "corpus.jsonl")
    }
    qrels: dict[str, dict[str, int]] = {}
    lines = (folder / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines[1:], 2):  # line 1 is the header
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3 or not parts[2].strip().lstrip("-").isdigit():
            raise UsageError(
                f"{folder / 'qrels.tsv'} line {n}: expected query-id, corpus-id, score"
            )
        if int(parts[2]) > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {
        str(row["_id"]): str(row["text"])
        for row in _jsonl(folder / "queries.jsonl")
        if str(row["_id"]) in qrels
    }
    answers: dict[str, list[str]] = {}
    if (folder / "answers.jsonl").is_file():
        answers = {
            str(row["_id"]): [str(a) for a in row.get("answers", [])]
            for row in _jsonl(folder / "answers.jsonl")
        }
    if not queries:
        raise UsageError(f"{folder}: no query has a positive judgement in qrels.tsv")
    return Dataset(folder.resolve().name, folder, corpus, queries, qrels, answers)


def _jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise UsageError(f"{path} line {n} is not JSON") from exc


# --- the eval index -------------------------------------------------------------------------


def cache_root() -> Path:
    return cache_folder() / "eval"


def default_index_dir(cfg: Config, data: Dataset) -> Path:
    """A cache folder keyed by the dataset's location and contents and the index settings."""
    key = json.dumps(
        [
            str(data.folder.resolve()),
            (data.folder / "corpus.jsonl").stat().st_size,
            cfg.model,
            cfg.max_tokens,
            cfg.pack_tokens,
            cfg.min_tokens,
        ]
        # Another store gets its own folder; FAISS keeps the key it always had (cached indexes).
        + ([cfg.store, cfg.milvus_uri, cfg.milvus_collection] if cfg.store != "faiss" else [])
    )
    return cache_root() / f"{data.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def doc_filename(doc_id: str) -> str:
    """A file name for a corpus row: readable when the id is safe, hashed otherwise."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}", doc_id):
        return f"{doc_id}.txt"
    return f"id-{hashlib.sha256(doc_id.encode()).hexdigest()[:24]}.txt"


def materialize(data: Dataset, folder: Path) -> dict[str, str]:
    """Write one file per corpus row (only those that differ); return file path -> doc id."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for doc_id, (title, text) in data.corpus.items():
        name = doc_filename(doc_id)
        body = f"{title.strip()}\n\n{text.strip()}\n" if title.strip() else f"{text.strip()}\n"
        path = folder / name
        try:
            same = path.read_text(encoding="utf-8") == body
        except OSError:
            same = False
        if not same:
            path.write_text(body, encoding="utf-8")
        paths[name] = doc_id
    for stale in folder.glob("*.txt"):
        if stale.name not in paths:
            stale.unlink()
    return paths


EVAL_MARKER = "kzqa-eval.json"  # in a folder `kzqa eval` owns: it rewrites corpus/ there


def claim_folder(root: Path, data: Dataset) -> None:
    """Make root an eval folder, refusing one that holds anything `kzqa eval` did not write:
    its corpus/ is rewritten to match the dataset, so a project folder would lose files."""
    marker = root / EVAL_MARKER
    if root.is_dir() and not marker.is_file() and any(root.iterdir()):
        ours = root.resolve().is_relative_to(cache_root().resolve())  # from an older kzqa
        if not ours:
            raise UsageError(
                f"{root} holds files that `kzqa eval` did not write; it would replace its corpus/",
                hint="pass --index a new or empty folder",
            )
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"dataset": str(data.folder.resolve())}) + "\n")


def prepare(
    cfg: Config,
    data: Dataset,
    index_dir: Path | None,
    progress: Any = None,
    log: Log | None = None,
    embedder: Any = None,
) -> tuple[Config, dict[str, str]]:
    """Materialize the corpus beside the eval index and bring the index up to date."""
    from ..api import build_index

    root = Path(index_dir) if index_dir is not None else default_index_dir(cfg, data)
    claim_folder(root, data)
    ecfg = replace(cfg, corpus=root / "corpus", index=root / "index")
    paths = materialize(data, ecfg.corpus)
    report = build_index(ecfg, embedder=embedder, progress=progress, wait=600)
    if log and report.passages_embedded:
        log(f"kzqa: eval index {root}: embedded {report.passages_embedded} passages")
    return ecfg, paths


# --- metrics --------------------------------------------------------------------------------


def ndcg(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def mrr(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    return next((1 / (i + 1) for i, d in enumerate(ranked[:k]) if d in relevant), 0.0)


def answer_hit(sentence: str, gold: list[str]) -> bool:
    """At least half of some gold answer's tokens occur in the sentence."""
    have = set(_TOKEN.findall(sentence.lower()))
    for answer in gold:
        tokens = _TOKEN.findall(answer.lower())
        if tokens and sum(t in have for t in tokens) * 2 >= len(tokens):
            return True
    return False


def score_runs(runs: dict[str, list[str]], data: Dataset, k: int = 10) -> dict[str, float]:
    """Mean metrics over the queries in runs (query id -> ranked doc ids); k adds @k ones."""
    n = len(runs) or 1
    rows = [(runs[q], data.qrels[q]) for q in runs]
    scores = {
        "ndcg@10": sum(ndcg(r, rel) for r, rel in rows) / n,
        "recall@10": sum(recall(r, rel, 10) for r, rel in rows) / n,
        "recall@100": sum(recall(r, rel, 100) for r, rel in rows) / n,
        "mrr@10": sum(mrr(r, rel) for r, rel in rows) / n,
    }
    if k not in (10, 100):
        scores[f"ndcg@{k}"] = sum(ndcg(r, rel, k) for r, rel in rows) / n
        scores[f"recall@{k}"] = sum(recall(r, rel, k) for r, rel in rows) / n
    return scores


# --- the run --------------------------------------------------------------------------------


def run_eval(
    cfg: Config,
    dataset_dir: Path,
    mode: str | None = None,
    index_dir: Path | None = None,
    k: int = 10,
    progress: Any = None,
    log: Log | None = None,
    embedder: Any = None,
) -> dict[str, Any]:
    """Index the dataset (cached), run every judged query, and score the rankings."""
    from ..search import Searcher, check_mode

    mode = check_mode(mode or cfg.mode)  # before the (possibly long) indexing
    if not 1 <= k <= DEPTH:
        raise UsageError(f"-k must be between 1 and {DEPTH}, got {k}")
    data = load_dataset(dataset_dir)
    ecfg, paths = prepare(cfg, data, index_dir, progress, log, embedder)
    searcher = Searcher.open(ecfg, encoder=embedder)
    doc_of = [paths.get(p.path) for p in searcher.generation.passages]
    qids = list(data.queries)
    started = time.perf_counter()
    rankings = searcher.rank_many([data.queries[q] for q in qids], DEPTH * 3, mode)
    runs = {q: rank_documents(r, doc_of) for q, r in zip(qids, rankings, strict=True)}
    top_rows = {q: r[0][0] for q, r in zip(qids, rankings, strict=True) if r}
    seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "dataset": data.name,
        "mode": mode,
        "queries": len(qids),
        **{key: round(v, 4) for key, v in score_runs(runs, data, k).items()},
    }
    if data.answers:
        report.update(answer_at_1(searcher, data, runs, top_rows))
    report["seconds"] = round(seconds, 2)
    report["ms_per_query"] = round(1000 * seconds / max(len(qids), 1), 1)
    report["index"] = str(ecfg.index.parent)
    return report


def rank_documents(ranked: Sequence[tuple[int, float]], doc_of: Sequence[str | None]) -> list[str]:
    """Ranked passage rows -> ranked document ids (DEPTH at most), each at its best passage;
    doc_of[row] is the document of passage row (None: not one of the dataset's)."""
    docs: list[str] = []
    seen: set[str] = set()
    for row, _ in ranked:
        doc = doc_of[row]
        if doc is not None and doc not in seen:
            seen.add(doc)
            docs.append(doc)
            if len(docs) == DEPTH:
                break
    return docs


def answer_at_1(
    searcher: Any, data: Dataset, runs: dict[str, list[str]], top_rows: dict[str, int]
) -> dict[str, Any]:
    """Among queries whose top passage is relevant: how often its answer sentence holds the gold."""
    asked = [
        q
        for q, docs in runs.items()
        if docs and docs[0] in data.qrels[q] and data.answers.get(q) and q in top_rows
    ]
    if not asked:
        return {"answer@1": None, "answer_queries": 0}
    vectors = searcher.embed_questions([data.queries[q] for q in asked])
    hits = 0
    for q, vec in zip(asked, vectors, strict=True):
        (answer,) = searcher.answers(data.queries[q], vec, [top_rows[q]])
        hits += answer_hit(answer.text, data.answers[q])
    return {"answer@1": round(hits / len(asked), 4), "answer_queries": len(asked)}
