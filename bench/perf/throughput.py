"""Indexing throughput: `kzqa index` against raw SentenceTransformer.encode on the same passages.

    .venv/bin/python bench/throughput.py [--files 300] [--rounds 2]

Takes the first --files documents of bench/out/p10k/corpus (COVID-QA + SciFact, written by
bench/corpus10k.py), indexes them from scratch with kzqa's build_index (its default embedder,
through the ONNX export, and the torch one a first build uses; both store sentence vectors
too), then embeds exactly the passages it made with (a) SentenceTransformer.encode in one
call, batch 32, and (b) kzqa's ONNX encoder alone. Rounds alternate; medians are printed,
and ratios against (a).

The ONNX export (once per model and index folder, ~10 s) is not part of the indexing time:
each fresh index gets a copy of an existing export, as every build after the first would.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]  # the repository
OUT = ROOT / "bench" / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--source", type=Path, default=OUT / "p10k" / "corpus")
    args = parser.parse_args()

    from kzqa.build import build_index
    from kzqa.config import load_config
    from kzqa.embed.models import resolve_model
    from kzqa.embed.onnx import OnnxEncoder
    from kzqa.embed.torch import SentenceTransformerEmbedder
    from kzqa.store import open_generation

    work = OUT / "throughput"
    corpus = work / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    for f in sorted(args.source.iterdir())[: args.files]:
        shutil.copy(f, corpus / f.name)

    # One untimed build: loads torch, writes the ONNX export that later builds copy.
    seed = load_config(None, corpus, work / "seed-index")
    build_index(seed, full=True)
    gen = open_generation(seed.index)
    assert gen is not None and gen.manifest.onnx
    # kzqa embeds each distinct passage text once; so does the reference run.
    texts = list({p.hash: p.text for p in gen.passages}.values())
    onnx_dir = seed.index / gen.manifest.onnx

    from sentence_transformers import SentenceTransformer

    spec = resolve_model(seed.model)
    times: dict[str, list[float]] = {"kzqa index": [], "kzqa index, torch": []}
    times.update({"ST encode": [], "ST load+encode": [], "ONNX load+encode": []})
    reference = None
    onnx_vectors = None
    for r in range(args.rounds):
        steps = ["kzqa", "kzqa-torch", "st", "onnx"]
        for step in steps if r % 2 == 0 else steps[::-1]:
            if step.startswith("kzqa"):
                index = work / "index"
                shutil.rmtree(index, ignore_errors=True)
                shutil.copytree(onnx_dir, index / gen.manifest.onnx)
                # The default embedder goes through the export; the torch one is what a
                # first build uses (the model load is timed in both).
                t = time.perf_counter()
                embedder = None if step == "kzqa" else SentenceTransformerEmbedder(spec)
                report = build_index(load_config(None, corpus, index), embedder=embedder)
                name = "kzqa index" if step == "kzqa" else "kzqa index, torch"
                times[name].append(time.perf_counter() - t)
                assert report.passages_embedded == len(texts)
            elif step == "st":
                t = time.perf_counter()
                model = SentenceTransformer(str(spec.path), device="cpu")
                loaded = time.perf_counter()
                reference = model.encode(
                    texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False
                )
                done = time.perf_counter()
                times["ST encode"].append(done - loaded)
                times["ST load+encode"].append(done - t)
            else:
                t = time.perf_counter()
                encoder = OnnxEncoder(onnx_dir)
                onnx_vectors = encoder.embed(texts)
                times["ONNX load+encode"].append(time.perf_counter() - t)
    assert reference is not None and onnx_vectors is not None
    cosine = np.sum(np.asarray(reference) * onnx_vectors, axis=1)
    raw = statistics.median(times["ST encode"])
    print(f"{len(texts)} passages from {args.files} files; {args.rounds} rounds, medians")
    print(f"{'what':18} {'seconds':>8} {'passages/s':>10} {'vs ST encode':>13}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:18} {med:8.1f} {len(texts) / med:10.1f} {raw / med:13.2f}")
    print(f"ONNX vs ST vectors: min cosine {cosine.min():.6f}, mean {cosine.mean():.6f}")


if __name__ == "__main__":
    main()
