"""kzqa: local question answering over a folder of documents, with exact citations.

Library entry points (the CLI is a thin layer over these; they live in kzqa.api):

    cfg = kzqa.load_config()                # kzqa.yaml, KZQA_CONFIG, defaults
    report = kzqa.build_index(cfg)          # kzqa index
    result = kzqa.ask(cfg, "question", k=5) # kzqa ask
    span = kzqa.read_span(cfg, source, start, end, context=200)  # kzqa read
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ask", "ask_many", "build_index", "load_config", "read_span", "Searcher"]

if TYPE_CHECKING:
    from .api import ask, ask_many, build_index, read_span
    from .config import load_config
    from .search import Searcher


def __getattr__(name: str) -> Any:
    # Lazy, so `import kzqa` stays cheap and never pulls in numpy, FAISS or torch.
    if name in ("ask", "ask_many", "build_index", "read_span"):
        from . import api

        return getattr(api, name)
    if name == "load_config":
        from .config import load_config

        return load_config
    if name == "Searcher":
        from .search import Searcher

        return Searcher
    raise AttributeError(name)
