"""kzqa: local question answering over a folder of documents, with exact citations.

Library entry points (the CLI is a thin layer over these):

    cfg = kzqa.load_config()                # kzqa.yaml, KZQA_CONFIG, defaults
    report = kzqa.build_index(cfg)          # kzqa index
    result = kzqa.ask(cfg, "question", k=5) # kzqa ask
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ask", "build_index", "load_config", "Searcher"]

if TYPE_CHECKING:
    from .build import build_index
    from .config import load_config
    from .retrieval import Searcher, ask


def __getattr__(name: str) -> Any:
    # Lazy, so `import kzqa` stays cheap and never pulls in numpy, FAISS or torch.
    if name == "build_index":
        from .build import build_index

        return build_index
    if name == "load_config":
        from .config import load_config

        return load_config
    if name in ("ask", "Searcher"):
        from . import retrieval

        return getattr(retrieval, name)
    raise AttributeError(name)
