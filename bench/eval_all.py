"""The BENCHMARKS.md table of issue 4: every mode on every dataset, with its command.

    .venv/bin/python bench/eval_all.py ../shared/eval/scifact ../shared/eval/covidqa

Each row is exactly what its `kzqa eval` command prints with --json (same library call); the
eval indexes are cached, so only the first run embeds. ms/query is the retrieval time of the
whole query set (questions embedded in one batch) divided by the number of queries.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kzqa.config import Config, load_config
from kzqa.ops.evaluate import run_eval

ROOT = Path(__file__).resolve().parent.parent
ROWS = [  # (label, mode, config file or None)
    ("BM25 (bm25s, k1 0.7, b 0.3, title + text)", "bm25", None),
    (f"dense (all-MiniLM-L6-v2, + {Config().sentence_weight} x best sentence)", "dense", None),
    ("hybrid, RRF k=60 (classic)", "hybrid", "bench/configs/rrf.yaml"),
    ("hybrid, RRF k=10, BM25-leaning", "hybrid", "bench/configs/rrf-bm25-leaning.yaml"),
    ("hybrid, min-max convex 0.5 (the fusion before)", "hybrid", "bench/configs/convex-0.5.yaml"),
    ("**hybrid, default** (z-score 0.6 + neighbours 0.2)", "hybrid", None),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="+", type=Path)
    args = parser.parse_args()
    print(
        "| dataset | retrieval | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | answer@1 "
        "| ms/query | command |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for folder in args.datasets:
        for label, mode, config in ROWS:
            cfg = load_config(ROOT / config) if config else Config()
            r = run_eval(cfg, folder, mode)
            command = f"kzqa eval {folder} --mode {mode}" + (
                f" --config {config}" if config else ""
            )
            answer = r.get("answer@1")
            shown = "" if answer is None else f"{answer:.3f}"
            print(
                f"| {r['dataset']} | {label} | {r['ndcg@10']:.3f} | {r['recall@10']:.3f} "
                f"| {r['recall@100']:.3f} | {r['mrr@10']:.3f} | {shown} "
                f"| {r['ms_per_query']:.1f} | `{command}` |",
                flush=True,
            )


if __name__ == "__main__":
    main()
