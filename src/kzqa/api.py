"""The library's entry points, and the one place that runs a build before a search.

report = kzqa.build_index(cfg)            # kzqa index
result = kzqa.ask(cfg, "question", k=5)   # kzqa ask: builds or refreshes the index first
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import store
from .config import Config
from .corpus import changes_since
from .errors import BusyError, CorpusError
from .records import AskResult
from .search import Searcher, check_mode, check_question

if TYPE_CHECKING:
    from .build import BuildReport

Log = Callable[[str], None]
BUILD_WAIT = 600  # seconds `ask` waits for another build when it has no index to answer from


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def build_index(cfg: Config, **options: Any) -> BuildReport:
    """Bring the index in line with the corpus (`kzqa index`). Options (full, embedder,
    progress, wait) as kzqa.build.build_index takes them."""
    from .build import build_index as build  # imported only when there is work: 10 ms

    return build(cfg, **options)


def ask(
    cfg: Config,
    question: str,
    k: int | None = None,
    mode: str | None = None,
    update: bool = True,
    log: Log = _stderr,
) -> AskResult:
    """Answer one question, building or refreshing the index first when needed."""
    return ask_many(cfg, [question], k, mode, update, log)[0]


def ask_many(
    cfg: Config,
    questions: list[str],
    k: int | None = None,
    mode: str | None = None,
    update: bool = True,
    log: Log = _stderr,
) -> list[AskResult]:
    """Answer many questions from one opened index (checked before any indexing)."""
    k = cfg.k if k is None else k
    for q in questions:
        check_question(q, k)
    if mode is not None:
        check_mode(mode)
    searcher = open_fresh(cfg, update, log)
    return [searcher.search(q, k, mode) for q in questions]


def open_fresh(cfg: Config, update: bool = True, log: Log = _stderr) -> Searcher:
    """Open the index: built if there is none (or it is of an older format), refreshed if the
    corpus moved (unless `update` is False: then a warning says it is stale)."""
    try:
        manifest = store.read_manifest(cfg.index)
    except store.FormatError as exc:
        if not update:
            raise
        log(f"kzqa: {exc.message}; rebuilding it")
        manifest = None
    if manifest is None:
        if not cfg.corpus.is_dir():
            raise CorpusError(
                f"corpus folder not found: {cfg.corpus}",
                hint="create it and add documents, or pass --corpus",
            )
        log(f"kzqa: no index in {cfg.index} yet; building it from {cfg.corpus}")
        report = build_index(cfg, wait=BUILD_WAIT)
        log(f"kzqa: indexed {report.documents} documents, {report.passages_total} passages")
        return Searcher.open(cfg)
    changes = None
    if cfg.corpus.is_dir():
        changes = changes_since(cfg.corpus, cfg.index, manifest.files, manifest.skipped)
    elif update:  # a mistyped --corpus must not pass for "nothing changed"
        raise CorpusError(
            f"corpus folder not found: {cfg.corpus}",
            hint="pass the right --corpus, or --no-update to answer from the index alone",
        )
    else:
        log(f"kzqa: warning: corpus folder not found: {cfg.corpus}; citations are not checked")
    if update and cfg.model != manifest.model:
        log(
            f"kzqa: the config names model '{cfg.model}', the index was built with "
            f"'{manifest.model}'; rebuilding"
        )
        build_index(cfg, wait=BUILD_WAIT)
    elif changes and not update:
        log(
            f"kzqa: warning: the corpus changed since the index was built "
            f"({changes.summary()}); answering from the old index (run `kzqa index`)"
        )
    elif changes:
        try:
            report = build_index(cfg)
            if report.committed:
                log(
                    f"kzqa: corpus changed ({changes.summary()}); index updated "
                    f"({report.passages_embedded} passages embedded)"
                )
        except BusyError:
            log("kzqa: another `kzqa index` is running; answering from the last complete index")
    return Searcher.open(cfg)
