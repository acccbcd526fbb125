"""The reference embedder: a sentence-transformers model run by torch (imported only when
documents are embedded and no ONNX export serves instead)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..files import sha256_file
from .base import Embedder, Progress, Spans, pool_sentences, unit
from .models import ModelSpec, load_tokenizer, read_json
from .onnx import ONNX_FORMAT, OnnxEncoder

if TYPE_CHECKING:
    import numpy as np


class SentenceTransformerEmbedder(Embedder):
    """The reference embedder (torch); imported only when documents are embedded."""

    def __init__(self, spec: ModelSpec, batch_size: int = 32) -> None:
        self.spec = spec
        self.name = spec.name
        self.fingerprint = spec.fingerprint
        self.batch_size = batch_size
        self.max_tokens = spec.max_seq_length()
        self._counter = load_tokenizer(spec.path)
        self._model: Any = None
        self._onnx: OnnxEncoder | None = None
        self.dimension = self._config_dimension()

    def use_onnx(self, folder: Path) -> None:
        """Embed through this model's ONNX export instead of torch.

        Same vectors (tests/test_onnx.py: cosine >= 0.9999), 1.5x the throughput and no 5-10 s
        torch import (BENCHMARKS.md, issue 5); the export itself still needs torch, once.
        """
        self._onnx = OnnxEncoder(folder, batch_size=self.batch_size)

    @cached_property
    def _window(self) -> Any:
        """The tokenizer as the model runs it (its window included), for token offsets."""
        return load_tokenizer(self.spec.path, self.max_tokens)

    def _config_dimension(self) -> int:
        cfg = read_json(self.spec.path / "1_Pooling" / "config.json") or {}
        dim = cfg.get("word_embedding_dimension") or (
            read_json(self.spec.path / "config.json") or {}
        ).get("hidden_size")
        if not dim:
            return int(self.model.get_sentence_embedding_dimension())
        return int(dim)

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "Loading weights" bar
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(self.spec.path), device="cpu")
            except Exception as exc:  # any loader failure is a model problem for the user
                raise ModelError(
                    f"cannot load model '{self.name}' from {self.spec.path}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                    hint="reinstall the model package",
                ) from exc
        return self._model

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [
            len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)
        ]

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        import numpy as np

        if self._onnx is not None:
            return self._onnx.embed(texts, progress)
        out = []
        step = self.batch_size * 8  # large calls let sentence-transformers sort by length
        for i in range(0, len(texts), step):
            part = list(texts[i : i + step])
            out.append(
                self.model.encode(
                    part,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype(np.float32)
            )
            if progress:
                progress(len(part))
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack(out)

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Spans], progress: Progress | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, and each passage's sentence vectors from the same forward pass."""
        import numpy as np

        if self._onnx is not None:
            return self._onnx.embed_passages(texts, spans, progress)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentences: list[np.ndarray] = []
        # The same tokens the model sees (its window included), for their character offsets.
        encodings = self._window.encode_batch(list(texts))
        step = self.batch_size * 8  # large calls let sentence-transformers sort by length
        for i in range(0, len(texts), step):
            items = self.model.encode(
                list(texts[i : i + step]),
                batch_size=self.batch_size,
                output_value=None,  # token vectors too, not only the pooled one
                show_progress_bar=False,
            )
            for j, item in enumerate(items, i):
                mask = item["attention_mask"].bool()
                tokens = item["token_embeddings"][mask].float().numpy()
                whole = item["sentence_embedding"].float().numpy()
                vectors[j] = whole
                offsets = encodings[j].offsets
                if len(offsets) != len(tokens):  # not expected: the same tokenizer and window
                    offsets = [(0, 0)] * len(tokens)  # every sentence gets the passage's vector
                sentences.append(pool_sentences(tokens, offsets, spans[j], whole))
            if progress:
                progress(len(items))
        return unit(vectors), sentences

    exports_onnx = True

    def export_onnx(self, dest: Path) -> bool:
        """Write model.onnx + tokenizer.json + onnx.json to dest (a new, empty folder)."""
        import shutil

        import torch

        pooling = self.spec.pooling()
        transformer = self.model[0].auto_model.eval()

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.transformer = transformer

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                hidden = self.transformer(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state
                if pooling == "cls":
                    return hidden[:, 0], hidden
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), hidden

        dummy = torch.ones(2, 8, dtype=torch.long)
        dynamic = {
            n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids")
        }
        dynamic["embedding"] = {0: "batch"}
        dynamic["tokens"] = {0: "batch", 1: "tokens"}
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(dest / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding", "tokens"],
                dynamic_axes=dynamic,
                opset_version=17,
                dynamo=False,
            )
        shutil.copyfile(self.spec.path / "tokenizer.json", dest / "tokenizer.json")
        meta = {
            "format": ONNX_FORMAT,
            "model": self.name,
            "fingerprint": self.fingerprint,
            "dimension": self.dimension,
            "max_tokens": self.max_tokens,
            "pooling": pooling,
            "sha256": {n: sha256_file(dest / n) for n in ("model.onnx", "tokenizer.json")},
        }
        (dest / "onnx.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return True
