"""`kzqa eval` with the Milvus store, its BM25 terms made by Milvus Lite's own analyzer
instead of kzqa's: what kzqa's tokens (stems, its stopwords) are worth against it.

    .venv/bin/python bench/perf/milvus_analyzer.py ../shared/eval/covidqa --index /tmp/raw

Lite 3.2's analyzer is its "standard" tokenizer (\\w+, lowercased) and a stop-word filter,
with no stemmer; kzqa emulates it on its side (the same tokens reach Milvus's BM25 function,
which splits them back). The index folder gets its own collection (`raw`); copy an eval
index of the same dataset there first and its vectors are reused, not embedded again.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import kzqa.search.lexical as lexical
import kzqa.search.milvus as milvus_search
from kzqa.cli import main as kzqa_main

WORD = re.compile(r"\w+")


def milvus_standard(texts: Sequence[str]) -> list[list[str]]:
    return [[w for w in WORD.findall(t.lower()) if w not in lexical.STOPWORDS] for t in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    args = parser.parse_args()
    args.index.mkdir(parents=True, exist_ok=True)
    config = args.index.parent / f"{args.index.name}.yaml"
    config.write_text("store: milvus\nmilvus:\n  collection: raw\n", encoding="utf-8")
    lexical.tokenize_queries = milvus_standard  # the build's terms and vocabulary
    milvus_search.tokenize_queries = milvus_standard  # the questions' terms
    sys.argv = ["kzqa", "eval", str(args.dataset), "--index", str(args.index)]
    sys.argv += ["--config", str(config), "--json"]
    kzqa_main()


if __name__ == "__main__":
    main()
