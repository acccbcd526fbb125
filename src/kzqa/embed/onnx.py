"""ONNX Runtime: the model's exported graph embeds questions (and, once exported, documents)
without torch, starting in about 0.2 s."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..files import sha256_file
from .base import Embedder, Progress, Spans, pool_sentences, unit
from .models import content_hashes, load_tokenizer, read_json

if TYPE_CHECKING:
    import numpy as np

ONNX_FORMAT = 2  # bump when the exported graph changes (2: token vectors as a second output)


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


class OnnxEncoder(Embedder):
    """Embeds questions (or anything) with ONNX Runtime: no torch, starts in ~0.2 s."""

    def __init__(self, folder: Path, threads: int = 0, batch_size: int = 32) -> None:
        meta = read_json(folder / "onnx.json")
        if not onnx_export_ok(folder):
            raise ModelError(f"no usable ONNX export in {folder}")
        import onnxruntime as ort

        self.folder = folder
        self.name = meta["model"]
        self.fingerprint = meta["fingerprint"]
        self.dimension = int(meta["dimension"])
        self.max_tokens = int(meta["max_tokens"])
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(folder, self.max_tokens)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads  # 0: one per core
        # Spinning worker threads hold a core between calls; on a small shared machine (and in
        # the server, where requests overlap) that steals it from the work. Measured: faster off.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
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
