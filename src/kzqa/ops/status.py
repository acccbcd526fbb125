"""`kzqa status`: what is indexed and whether the corpus moved since. Never loads a model."""

from __future__ import annotations

from typing import Any

from .. import store
from ..config import Config
from ..corpus import changes_since
from ..errors import StoreError


def index_status(cfg: Config) -> dict[str, Any]:
    manifest = store.read_manifest(cfg.index)
    info: dict[str, Any] = {
        "index": str(cfg.index),
        "corpus": str(cfg.corpus),
        "indexed": manifest is not None,
    }
    if manifest is None:
        return info
    try:  # stat calls only: a file of the wrong size (cut short, gone) is damage to report
        store.Generation(cfg.index, manifest)
        damaged = None
    except StoreError as exc:
        damaged = exc.message
    changes = (
        changes_since(cfg.corpus, cfg.index, manifest.files, manifest.skipped)
        if cfg.corpus.is_dir()
        else None
    )
    info.update(
        {
            "documents": len(manifest.files),
            "passages": manifest.passages,
            "model": manifest.model,
            "dimension": manifest.dimension,
            "built_at": manifest.built_at,
            "generation": manifest.generation,
            "index_type": manifest.index_type,
            "chunking": manifest.chunking,
            "changes": None
            if changes is None
            else {
                "added": changes.added,
                "modified": changes.modified,
                "removed": changes.removed,
                "renamed": [{"from": old, "to": new} for old, new in changes.renamed],
            },
            "damaged": damaged,  # why the index cannot be used as it is (null: it can)
            "up_to_date": changes is not None and not changes and damaged is None,
        }
    )
    return info
