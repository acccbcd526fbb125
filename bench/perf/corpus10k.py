"""Write a ~10,000-passage corpus of real text (COVID-QA + SciFact) as files, and index it.

    .venv/bin/python bench/corpus10k.py [--out bench/out/p10k] [--passages 10000]

One .txt file per source passage (title line, blank line, text). Files are added until the
chunker says the corpus holds --passages passages, then `kzqa index` builds it (minutes on
2 cores: run once, under `nice -n 10`, and reuse).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
SOURCES = [
    ROOT.parent / "shared" / "eval" / "covidqa" / "corpus.jsonl",
    ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl",
]


def write_corpus(folder: Path, target: int) -> int:
    """Write files until the chunker counts `target` passages; returns the passage count."""
    from kzqa.chunking import ChunkSettings, chunk_document
    from kzqa.config import Config
    from kzqa.embed.models import load_tokenizer, resolve_model
    from kzqa.records import Document

    cfg = Config()
    tokenizer = load_tokenizer(resolve_model(cfg.model).path)

    def count(texts: list[str]) -> list[int]:
        encoded = tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        return [len(e.ids) for e in encoded]

    settings = ChunkSettings(cfg.max_tokens, cfg.pack_tokens, cfg.min_tokens)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for source in SOURCES:
        with source.open(encoding="utf-8") as fh:
            for line in fh:
                if total >= target:
                    return total
                row = json.loads(line)
                name = re.sub(r"[^A-Za-z0-9_-]", "_", f"{source.parent.name}-{row['_id']}")
                text = f"{row['title'].strip()}\n\n{row['text'].strip()}\n"
                doc = Document(f"{name}.txt", text, "text", None, None)
                total += len(chunk_document(doc, count, settings))
                (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "p10k")
    parser.add_argument("--passages", type=int, default=10_000)
    args = parser.parse_args()
    corpus = args.out / "corpus"
    if not corpus.is_dir():
        n = write_corpus(corpus, args.passages)
        print(f"wrote {len(list(corpus.iterdir()))} files, about {n} passages, to {corpus}")
    from kzqa.build import build_index
    from kzqa.config import load_config

    started = time.perf_counter()
    report = build_index(load_config(None, corpus, args.out / "index"))
    print(
        f"indexed {report.passages_total} passages ({report.passages_embedded} embedded) "
        f"in {time.perf_counter() - started:.0f}s"
    )


if __name__ == "__main__":
    main()
