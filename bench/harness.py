"""The retrieval bench: variants (config files) on BEIR-style datasets, side by side.

    .venv/bin/python bench/harness.py ../shared/eval/scifact ../shared/eval/covidqa
    .venv/bin/python bench/harness.py ../shared/eval/covidqa -c default rrf convex-0.5

A variant is a kzqa config file: `-c NAME` reads bench/configs/NAME.yaml (or a path), and
`default` is the built-in defaults (whatever ./kzqa.yaml says). So a row is reproduced by
`kzqa eval DATASET --config bench/configs/NAME.yaml`, and a lever is a new YAML file, not a
new script. Each dataset's eval index is the one `kzqa eval` caches (a variant that changes
the model or the chunking gets its own, built on first use).

For each dataset and variant, every judged query is ranked as `kzqa eval` ranks it
(Searcher.rank_many, documents at their best passage) and scored with kzqa.ops.evaluate:
nDCG@10 on the even-numbered queries (file order: the half levers are tuned on), the odd ones
(held out) and all; Recall@10/100, MRR@10, answer@1 where the dataset has answers.jsonl.
Abstention: the dataset's own queries should be answered, the off-topic questions of
bench/data/offtopic-questions.txt not (and, given several datasets, the other datasets'
queries: same field, other documents). A question is answered when its top passage's
confidence reaches search.min_score, as `kzqa ask` decides; the harness also tunes a
threshold on the even half (best F1) and reports it on the odd half.
Prints markdown tables; with several datasets, the mean nDCG@10 of each variant as well.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kzqa.config import Config, load_config
from kzqa.embed import Embedder
from kzqa.ops import evaluate
from kzqa.ops.evaluate import DEPTH, Dataset, load_dataset, prepare, score_runs
from kzqa.search import Searcher
from kzqa.store import read_manifest

BENCH = Path(__file__).resolve().parent
CONFIGS = BENCH / "configs"
OFFTOPIC = BENCH / "data" / "offtopic-questions.txt"
NEAR = BENCH / "data" / "near"  # DATASET.txt: near-topic questions the dataset does not answer
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


# --- variants -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    cfg: Config
    path: Path | None = None  # its config file (None: the built-in defaults)


def load_variant(name: str) -> Variant:
    """`default`, a name in bench/configs/ (without .yaml), or a path to a config file."""
    if name == "default":
        return Variant("default", Config())
    path = Path(name)
    if not path.is_file():
        path = CONFIGS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(["default", *sorted(p.stem for p in CONFIGS.glob("*.yaml"))])
        raise SystemExit(f"harness: no variant '{name}' (known: {known})")
    return Variant(path.stem, load_config(path), path)


# --- scoring (tests/test_harness.py checks it against hand-computed values) ----------------


def halves(qids: Sequence[str]) -> dict[str, list[str]]:
    """The even-numbered queries (tuning half), the odd ones (held out) and all, in order."""
    return {"even": list(qids[0::2]), "odd": list(qids[1::2]), "all": list(qids)}


def score_halves(runs: dict[str, list[str]], data: Dataset) -> dict[str, float]:
    """nDCG@10 per half (`ndcg@10 even`, `ndcg@10 odd`) and every metric on all queries."""
    parts = halves([q for q in data.queries if q in runs])
    out = {
        f"ndcg@10 {h}": score_runs({q: runs[q] for q in parts[h]}, data)["ndcg@10"]
        for h in ("even", "odd")
    }
    out.update({m: v for m, v in score_runs(runs, data).items() if m in METRICS})
    return out


def prf(rows: Sequence[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    """Precision, recall and F1 of answering the rows (confidence, about the corpus) whose
    confidence reaches the threshold. Nothing answered is precision 1."""
    answered = [relevant for score, relevant in rows if score >= threshold]
    positives = sum(relevant for _, relevant in rows)
    precision = sum(answered) / len(answered) if answered else 1.0
    recall = sum(answered) / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def tune_threshold(rows: Sequence[tuple[float, bool]]) -> float:
    """The threshold (one of the confidences, to 3 decimals) with the best F1; the lower on
    a tie."""
    grid = sorted({round(score, 3) for score, _ in rows})
    return max(grid, key=lambda t: (prf(rows, t)[2], -t))


# --- one variant on one dataset -------------------------------------------------------------


@dataclass
class Row:
    dataset: str
    variant: Variant
    scores: dict[str, float]  # score_halves, plus answer@1 when the dataset has answers
    ms_per_query: float
    own: list[float]  # confidence of the top passage of each own query (file order)
    offtopic: list[float]  # ... of each off-topic question
    other: list[float] = field(default_factory=list)  # ... of the other datasets' queries
    near: list[float] = field(default_factory=list)  # ... of its near-topic questions

    def near_topic(self, half: str) -> dict[str, float | None]:
        """At min_score, on one half (`even`, `odd` or `all`): the share of own queries
        answered, of near-topic and off-topic questions not answered, and precision of
        `answered` against the near-topic questions."""
        at = self.variant.cfg.min_score
        pick = {"even": slice(0, None, 2), "odd": slice(1, None, 2), "all": slice(None)}[half]
        own, near, far = self.own[pick], self.near[pick], self.offtopic[pick]
        rows = [(c, True) for c in own] + [(c, False) for c in near]
        return {
            "recall": prf(rows, at)[1],
            "near abstained": sum(c < at for c in near) / len(near) if near else None,
            "far abstained": sum(c < at for c in far) / len(far) if far else None,
            "precision near": prf(rows, at)[0] if near else None,
        }

    def abstention(self) -> dict[str, float]:
        """P / R against off-topic questions at min_score; P with the other datasets'
        queries too; a threshold tuned on the even half, scored on the odd half."""
        rows = [(c, True) for c in self.own] + [(c, False) for c in self.offtopic]
        even = [(c, True) for c in self.own[0::2]] + [(c, False) for c in self.offtopic[0::2]]
        odd = [(c, True) for c in self.own[1::2]] + [(c, False) for c in self.offtopic[1::2]]
        at = self.variant.cfg.min_score
        p, r, _ = prf(rows, at)
        tuned = tune_threshold(even)
        po, ro, fo = prf(odd, tuned)
        out = {"min_score": at, "precision": p, "recall": r, "tuned": tuned}
        out.update({"odd precision": po, "odd recall": ro, "odd f1": fo})
        if self.other:
            out["precision with other"] = prf(rows + [(c, False) for c in self.other], at)[0]
        return out


class Bench:
    """Datasets and their eval indexes, opened once and shared by the variants."""

    def __init__(
        self,
        folders: Sequence[Path],
        index_root: Path | None = None,
        embedder: Embedder | None = None,
        log: evaluate.Log | None = None,
    ) -> None:
        self.datasets = [load_dataset(f) for f in folders]
        self.offtopic = _lines(OFFTOPIC)
        self.near = {d.name: _lines(NEAR / f"{d.name}.txt") for d in self.datasets}
        self.index_root = index_root  # None: kzqa eval's cache
        self.embedder = embedder  # None: the model the index names (as kzqa eval)
        self.log = log
        self._opened: dict[tuple[Path, str], Searcher] = {}  # by index and question precision

    def searcher(self, data: Dataset, cfg: Config) -> tuple[Searcher, dict[str, str]]:
        """The dataset's eval index for these settings (built or updated as `kzqa eval`
        does), searched with them; file path -> doc id."""
        where = None
        if self.index_root is not None:
            where = self.index_root / evaluate.default_index_dir(cfg, data).name
        ecfg, paths = prepare(cfg, data, where, log=self.log, embedder=self.embedder)
        key = (ecfg.index, ecfg.question_precision)
        opened = self._opened.get(key)
        if opened is None or opened.manifest.generation != _generation(ecfg):
            opened = Searcher.open(ecfg, encoder=self.embedder)
            self._opened[key] = opened
        # Same index and encoder, this variant's search settings.
        return Searcher(ecfg, opened.generation, opened.encoder), paths

    def run(self, data: Dataset, variant: Variant) -> Row:
        searcher, paths = self.searcher(data, variant.cfg)
        mode = variant.cfg.mode
        qids = list(data.queries)
        started = time.perf_counter()
        ranked = searcher.rank_many([data.queries[q] for q in qids], DEPTH * 3, mode)
        ms = 1000 * (time.perf_counter() - started) / len(qids)
        doc_of = [paths.get(p.path) for p in searcher.generation.passages]
        runs = {q: evaluate.rank_documents(r, doc_of) for q, r in zip(qids, ranked, strict=True)}
        scores = score_halves(runs, data)
        if data.answers:
            top_rows = {q: r[0][0] for q, r in zip(qids, ranked, strict=True) if r}
            found = evaluate.answer_at_1(searcher, data, runs, top_rows)
            if found["answer@1"] is not None:
                scores["answer@1"] = found["answer@1"]
        # Hard negatives: the queries of the other datasets given, unless they ask about the
        # same documents (bench/data/article-* ask the article in four languages).
        others = [q for d in self.datasets if d.corpus != data.corpus for q in d.queries.values()]
        return Row(
            data.name,
            variant,
            scores,
            ms,
            top_confidences(searcher, [data.queries[q] for q in qids], mode),
            top_confidences(searcher, self.offtopic, mode),
            top_confidences(searcher, others, mode),
            top_confidences(searcher, self.near[data.name], mode),
        )


def _lines(path: Path) -> list[str]:
    """The non-empty lines of a question file; none when there is no such file."""
    if not path.is_file():
        return []
    return [q for q in path.read_text(encoding="utf-8").splitlines() if q.strip()]


def _generation(cfg: Config) -> str | None:
    manifest = read_manifest(cfg.index)
    return manifest.generation if manifest else None


def top_confidences(searcher: Searcher, questions: Sequence[str], mode: str) -> list[float]:
    """The confidence of each question's top passage, as `kzqa ask` computes `answered`
    (its candidate pool for the default k; tests/test_harness.py checks they agree)."""
    if not questions:
        return []
    cfg = searcher.cfg
    qvecs = searcher.embed_questions(questions)
    pool = max(cfg.candidates, 4 * cfg.k)
    out = []
    for q, found in zip(questions, searcher.candidates(questions, qvecs, pool, mode), strict=True):
        ranked = searcher.rank(found, mode)
        if not ranked:
            out.append(0.0)
            continue
        top = ranked[0][0]
        out.append(searcher.confidence(q, top, found.dense.get(top, 0.0)))
    return out


# --- tables ---------------------------------------------------------------------------------


def _cell(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def retrieval_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| dataset | variant | nDCG@10 even | odd | all | Recall@10 | Recall@100 | MRR@10 "
        "| answer@1 | ms/query |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        s = r.scores
        cells = [s["ndcg@10 even"], s["ndcg@10 odd"], s["ndcg@10"], s["recall@10"]]
        cells += [s["recall@100"], s["mrr@10"], s.get("answer@1")]
        shown = " | ".join(_cell(c) for c in cells)
        lines.append(f"| {r.dataset} | {r.variant.name} | {shown} | {r.ms_per_query:.1f} |")
    return lines


def abstention_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| dataset | variant | min_score | P / R vs off-topic | P, other datasets too "
        "| tuned on even | P / R / F1 odd |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        a = r.abstention()
        other = _cell(a.get("precision with other"), 3)
        lines.append(
            f"| {r.dataset} | {r.variant.name} | {a['min_score']:.2f} "
            f"| {a['precision']:.3f} / {a['recall']:.3f} | {other} "
            f"| {a['tuned']:.3f} | {a['odd precision']:.3f} / {a['odd recall']:.3f} "
            f"/ {a['odd f1']:.3f} |"
        )
    return lines


def near_table(rows: Sequence[Row]) -> list[str]:
    lines = [
        "| dataset | variant | half | own answered | near-topic abstained "
        "| far-topic abstained | P vs near-topic |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if not r.near:
            continue
        for half in ("even", "odd", "all"):
            n = r.near_topic(half)
            cells = [n["recall"], n["near abstained"], n["far abstained"], n["precision near"]]
            shown = " | ".join(_cell(c, 3) for c in cells)
            lines.append(f"| {r.dataset} | {r.variant.name} | {half} | {shown} |")
    return lines


def mean_table(rows: Sequence[Row]) -> list[str]:
    """Mean nDCG@10 over the datasets, per variant, best on the even (tuning) half first."""
    by_variant: dict[str, list[Row]] = {}
    for r in rows:
        by_variant.setdefault(r.variant.name, []).append(r)
    means = {
        name: [sum(r.scores[k] for r in rs) / len(rs) for k in ("ndcg@10 even", "ndcg@10 odd")]
        + [sum(r.scores["ndcg@10"] for r in rs) / len(rs)]
        for name, rs in by_variant.items()
    }
    lines = ["| variant | nDCG@10 even | odd | all |", "| --- | --- | --- | --- |"]
    for name, (even, odd, every) in sorted(means.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"| {name} | {even:.4f} | {odd:.4f} | {every:.4f} |")
    return lines


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path, help="BEIR-style dataset folders")
    parser.add_argument(
        "-c",
        "--config",
        nargs="+",
        action="extend",
        dest="variants",
        metavar="NAME",
        help="variants: default, a name in bench/configs/, or a config file (default: default)",
    )
    parser.add_argument("--index-root", type=Path, help="eval indexes here, not in the cache")
    args = parser.parse_args(argv)
    variants = [load_variant(v) for v in args.variants or ["default"]]
    bench = Bench(args.datasets, args.index_root, embedder, log=_stderr)
    rows: list[Row] = []
    for data in bench.datasets:
        for variant in variants:
            rows.append(bench.run(data, variant))
            _stderr(f"harness: {data.name} / {variant.name} done")
    print("\n".join(["### Retrieval", "", *retrieval_table(rows), ""]))
    print("\n".join(["### Abstention", "", *abstention_table(rows), ""]))
    if any(r.near for r in rows):
        print("\n".join(["### Near-topic abstention", "", *near_table(rows), ""]))
    if len(bench.datasets) > 1:
        print("\n".join(["### Mean over the datasets", "", *mean_table(rows), ""]))
    return rows


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
