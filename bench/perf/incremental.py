"""Full build vs incremental re-index after editing one document (issue 3).

Corpus: the COVID-QA articles from ../shared/eval/covidqa/corpus.jsonl, one file per article
(its passages joined by blank lines). For each N, build from scratch, then edit one paragraph
of one document and re-index; also edit 10% of the documents to show the cost follows the
size of the change. The model is loaded once, before timing, so both builds pay the same.

    .venv/bin/python bench/incremental.py [--sizes 10 50 92] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from collections import defaultdict
from pathlib import Path

from kzqa.build import build_index
from kzqa.config import load_config
from kzqa.embed import open_embedder

ROOT = Path(__file__).resolve().parents[2]  # the repository
COVIDQA = ROOT.parent / "shared" / "eval" / "covidqa" / "corpus.jsonl"
OUT = ROOT / "bench" / "out" / "incremental"


def articles() -> list[tuple[str, str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    titles: dict[str, str] = {}
    with COVIDQA.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            article = row["_id"].split("-")[0]
            titles[article] = row["title"]
            grouped[article].append(row["text"])
    return [(a, titles[a] + "\n\n" + "\n\n".join(grouped[a])) for a in sorted(grouped)]


def edit_one_paragraph(path: Path, n: int) -> None:
    text = path.read_text(encoding="utf-8")
    paragraphs = text.split("\n\n")
    paragraphs[1] = f"{paragraphs[1]} (Revised {n}.)"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 92])
    parser.add_argument("--repeat", type=int, default=3, help="incremental runs per size")
    args = parser.parse_args()
    docs = articles()
    embedder = None
    rows = []
    for n in args.sizes:
        folder = OUT / f"n{n}"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "corpus").mkdir(parents=True)
        for name, body in docs[:n]:
            (folder / "corpus" / f"{name}.txt").write_text(body + "\n", encoding="utf-8")
        cfg = load_config(None, folder / "corpus", folder / "index")
        if embedder is None:
            embedder = open_embedder(cfg.model, cfg.batch_size, cfg.index / "onnx")
            embedder.embed(["warm up the model"])  # load outside the timings
        full_s, full = timed(build_index, cfg, embedder=embedder)
        one = []
        for r in range(args.repeat):
            edit_one_paragraph(folder / "corpus" / f"{docs[0][0]}.txt", r)
            seconds, report = timed(build_index, cfg, embedder=embedder)
            assert report.changed and report.passages_embedded <= 2, report
            one.append((seconds, report.passages_embedded))
        tenth = max(1, n // 10)
        for name, _ in docs[:tenth]:
            edit_one_paragraph(folder / "corpus" / f"{name}.txt", 99)
        tenth_s, tenth_report = timed(build_index, cfg, embedder=embedder)
        inc = statistics.median(s for s, _ in one)
        rows.append(
            (
                n,
                full.passages_total,
                full_s,
                inc,
                one[0][1],
                inc / full_s,
                tenth,
                tenth_s,
                tenth_report.passages_embedded,
            )
        )
    print(
        f"{'docs':>5} {'passages':>8} {'full s':>8} {'edit-1 s':>9} {'embedded':>8} "
        f"{'ratio':>7} {'edited':>6} {'edit-10% s':>10} {'embedded':>8}"
    )
    for n, total, full_s, inc, emb, ratio, tenth, tenth_s, tenth_emb in rows:
        print(
            f"{n:>5} {total:>8} {full_s:>8.2f} {inc:>9.3f} {emb:>8} {ratio:>7.2%} "
            f"{tenth:>6} {tenth_s:>10.3f} {tenth_emb:>8}"
        )


if __name__ == "__main__":
    main()
