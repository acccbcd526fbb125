"""What embedding one question costs, alone and in batches (is micro-batching worth it?).

    .venv/bin/python bench/question_batch.py [--project bench/out/p10k] [--questions 64]

Embeds the first --questions COVID-QA questions with kzqa's ONNX question encoder (the
project's export), one call per batch, for batch sizes 1 to 16 and 1 or 2 ONNX Runtime
threads; prints the median over --rounds of the time per question. Also checks whether a
question's vector depends on the batch it was embedded in (it does, in the last bits).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from kzqa.embed.onnx import OnnxEncoder
from kzqa.store import read_manifest

ROOT = Path(__file__).resolve().parents[2]  # the repository
QUESTIONS = ROOT.parent / "shared" / "eval" / "covidqa" / "queries.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT / "bench" / "out" / "p10k")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    manifest = read_manifest(args.project / "index")
    assert manifest is not None and manifest.onnx, "index the project first"
    with QUESTIONS.open(encoding="utf-8") as fh:
        questions = [json.loads(line)["text"] for line in fh][: args.questions]
    print(f"{len(questions)} questions; median of {args.rounds} rounds")
    print(f"{'threads':>7} {'batch':>5} {'ms/question':>11} {'max |diff| vs alone':>20}")
    for threads in (1, 2):
        encoder = OnnxEncoder(args.project / "index" / manifest.onnx, threads=threads)
        alone = np.vstack([encoder.embed([q]) for q in questions])
        for batch in (1, 2, 4, 8, 16):
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                vectors = np.vstack(
                    [
                        encoder.embed(questions[i : i + batch])
                        for i in range(0, len(questions), batch)
                    ]
                )
                times.append((time.perf_counter() - started) / len(questions))
            diff = float(np.abs(vectors - alone).max())
            print(f"{threads:>7} {batch:>5} {1000 * statistics.median(times):>11.2f} {diff:>20.1e}")


if __name__ == "__main__":
    main()
