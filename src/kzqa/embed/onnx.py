"""ONNX Runtime: the model's exported graph embeds questions (and, once exported, documents)
without torch, starting in about 0.2 s."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..files import fsync_dir, fsync_file, sha256_file, write_text_atomic
from .base import Embedder, Progress, Spans, pool_sentences, unit
from .models import content_hashes, load_tokenizer, read_json

if TYPE_CHECKING:
    import numpy as np

ONNX_FORMAT = 2  # bump when the exported graph changes (2: token vectors as a second output)
MODEL = "model.onnx"  # the exported graph, full precision: embeds documents (and questions)
# The same graph with int8 weights (quantize_export), for questions only: 2-3x faster per
# question, nDCG@10 within 0.002 on SciFact and COVID-QA (bench/perf/question_int8.py).
QUANTIZED = "model-int8.onnx"
PRECISIONS = ("int8", "float32")  # of the question encoder (config: embedding.questions)


def onnx_export_ok(folder: Path) -> bool:
    """Whether folder holds an ONNX export this version can run (an older one is redone)."""
    meta = read_json(folder / "onnx.json")
    return bool(meta) and meta.get("format") == ONNX_FORMAT


def onnx_damage(folder: Path, cached: bool = False) -> str | None:
    """What is wrong with an export's files: each is hashed against onnx.json's checksums
    (`cached`: a file whose size and modification time were hashed before is not read again;
    builds use that, `kzqa verify` reads everything)."""
    meta = read_json(folder / "onnx.json") or {}
    names = sorted((meta.get("sha256") or {}).items())
    missing = [folder / name for name, _ in names if not (folder / name).is_file()]
    if missing:
        return f"{missing[0]} is missing"
    paths = [folder / name for name, _ in names]
    found = content_hashes(paths) if cached else [sha256_file(p) for p in paths]
    for path, (_, digest), sha in zip(paths, names, found, strict=True):
        if sha != digest:
            return f"{path} does not match its checksum"
    return None


def has_quantized(folder: Path) -> bool:
    """Whether the export holds its int8 question graph (listed in onnx.json: complete)."""
    meta = read_json(folder / "onnx.json") or {}
    return QUANTIZED in (meta.get("sha256") or {}) and (folder / QUANTIZED).is_file()


def quantize_export(folder: Path) -> None:
    """Add QUANTIZED to an export: its MatMul weights as int8, one scale per output channel
    (ONNX Runtime's dynamic quantization; activations are quantized per call). Only the matrix
    products are quantized: quantizing every op measured a median cosine of 0.970 to the full
    vectors, against 0.995 for this. Written to a temporary name, then listed in onnx.json, so
    a crash leaves the export as it was."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = folder / f".{QUANTIZED}.{os.getpid()}.tmp"
    logging.disable(logging.WARNING)  # it advises "pre-processing" on stderr, every time
    try:
        quantize_dynamic(
            folder / MODEL,
            tmp,
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
        )
        fsync_file(tmp)
        os.replace(tmp, folder / QUANTIZED)
        fsync_dir(folder)
    finally:
        logging.disable(logging.NOTSET)
        tmp.unlink(missing_ok=True)
    meta = read_json(folder / "onnx.json")
    meta["sha256"][QUANTIZED] = sha256_file(folder / QUANTIZED)
    write_text_atomic(folder / "onnx.json", json.dumps(meta, indent=2) + "\n")


class OnnxEncoder(Embedder):
    """Embeds questions (or anything) with ONNX Runtime: no torch, starts in ~0.2 s.

    `precision` "int8" runs the export's int8 graph (questions only) when it has one, and the
    full one otherwise; `self.precision` says which runs."""

    def __init__(
        self, folder: Path, threads: int = 0, batch_size: int = 32, precision: str = "float32"
    ) -> None:
        meta = read_json(folder / "onnx.json")
        if not onnx_export_ok(folder):
            raise ModelError(f"no usable ONNX export in {folder}")
        import onnxruntime as ort

        self.folder = folder
        self.precision = "int8" if precision == "int8" and has_quantized(folder) else "float32"
        # The int8 graph scales activations per call, by the largest in the batch: a text
        # embedded alone gets the same vector whatever it is asked with (`kzqa eval` batches).
        self.batch_size = 1 if self.precision == "int8" else batch_size
        self.name = meta["model"]
        self.fingerprint = meta["fingerprint"]
        self.dimension = int(meta["dimension"])
        self.max_tokens = int(meta["max_tokens"])
        self.tokenizer = load_tokenizer(folder, self.max_tokens)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads  # 0: one per core
        # Spinning worker threads hold a core between calls; on a small shared machine (and in
        # the server, where requests overlap) that steals it from the work. Measured: faster off.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(folder / (QUANTIZED if self.precision == "int8" else MODEL)),
            options,
            providers=["CPUExecutionProvider"],
        )

    @cached_property
    def _counter(self) -> Any:
        return load_tokenizer(self.folder)  # no truncation: chunking counts whole texts

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._run(texts, None, progress)[0]

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Spans], progress: Progress | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return self._run(texts, spans, progress)

    def _run(
        self, texts: Sequence[str], spans: Sequence[Spans] | None, progress: Progress | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors for texts and, when spans are given, for the sentences inside each one."""
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentences: list[np.ndarray] = [out[:0]] * len(texts) if spans is not None else []
        if not len(texts):
            return out, sentences
        outputs = ["embedding"] if spans is None else ["embedding", "tokens"]
        encodings = self.tokenizer.encode_batch(list(texts))
        for idx in _length_batches([len(e.ids) for e in encodings], self.batch_size):
            width = len(encodings[idx[-1]].ids)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n], mask[row, :n] = encodings[i].ids, 1
            # BERT-style models here take one segment: token types are all zero.
            result = self.session.run(
                outputs,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            out[idx] = result[0]
            if spans is not None:
                for row, i in enumerate(idx):
                    tokens = result[1][row, : len(encodings[i].ids)]
                    sentences[i] = pool_sentences(
                        tokens, encodings[i].offsets, spans[i], result[0][row]
                    )
            if progress:
                progress(len(idx))
        return unit(out), sentences


PAD_SLACK = 1.25  # a batch may hold at most 25% padding: padded tokens cost as much as real ones


def _length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped shortest first, so each batch pads little (27 sentences: 1.5x faster)."""
    batches: list[list[int]] = []
    batch: list[int] = []
    real = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        n = lengths[i]  # the longest so far: the batch's width if i joins
        if batch and (len(batch) >= batch_size or n * (len(batch) + 1) > PAD_SLACK * (real + n)):
            batches.append(batch)
            batch, real = [], 0
        batch.append(i)
        real += n
    if batch:
        batches.append(batch)
    return batches
