"""The library's entry points, and the one place that runs a build before a search.

report = kzqa.build_index(cfg)            # kzqa index
result = kzqa.ask(cfg, "question", k=5)   # kzqa ask: builds or refreshes the index first
span = kzqa.read_span(cfg, source, 1615, 1832, context=200)   # kzqa read
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import store
from .config import Config
from .corpus import changes_since, corpus_paths, display_source, inside, page_fields, read_file
from .errors import BusyError, CorpusError, StoreError, UsageError
from .records import AskResult, offsets_of, paragraph_range
from .search import Searcher, check_mode, check_question

if TYPE_CHECKING:
    from .build import BuildReport, ProgressFactory

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


def open_fresh(
    cfg: Config,
    update: bool = True,
    log: Log = _stderr,
    previous: Searcher | None = None,
    progress: ProgressFactory | None = None,
) -> Searcher:
    """Open the index: built if there is none (or it is of an older format), refreshed if the
    corpus moved (unless `update` is False: then a warning says it is stale). A build tells
    `progress`, as `kzqa index` does.

    `previous`, a searcher this returned before, is returned again while its generation is
    still the live one (and its question encoder reused when the model is the same), so a
    long-lived caller pays for loading only when the index changed."""
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
        report = _warned(build_index(cfg, wait=BUILD_WAIT, progress=progress), log)
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
        _warned(build_index(cfg, wait=BUILD_WAIT, progress=progress), log)
    elif changes and not update:
        log(
            f"kzqa: warning: the corpus changed since the index was built "
            f"({changes.summary()}); answering from the old index (run `kzqa index`)"
        )
    elif changes:
        try:
            report = _warned(build_index(cfg, progress=progress), log)
            if report.committed:
                n = report.passages_embedded
                log(
                    f"kzqa: corpus changed ({changes.summary()}); index updated "
                    f"({n} passage{'' if n == 1 else 's'} embedded)"
                )
        except BusyError:
            log("kzqa: another `kzqa index` is running; answering from the last complete index")
    return _reopen(cfg, previous)


def _warned(report: BuildReport, log: Log) -> BuildReport:
    """The report, once its warnings (files skipped, encodings guessed) are logged: a build
    warns about a file once, so the update `ask` makes must say what it found."""
    for warning in report.warnings:
        log(f"kzqa: warning: {warning}")
    return report


def _reopen(cfg: Config, previous: Searcher | None) -> Searcher:
    if previous is None:
        return Searcher.open(cfg)
    generation = store.open_generation(cfg.index)
    if generation is None:
        raise StoreError(f"no index in {cfg.index}", hint="run `kzqa index`")
    old, new = previous.manifest, generation.manifest
    if new.generation == old.generation:
        return previous
    return Searcher(cfg, generation, previous.encoder_for(generation))


def read_span(
    cfg: Config, source: str, start_char: int = 0, end_char: int | None = None, context: int = 0
) -> dict[str, Any]:
    """The text of an indexed file at [start_char, end_char) (what `kzqa read --json`
    prints), with up to `context` characters before and after it; end_char None: to the end
    of the text (so the defaults give the whole text).

    `source` is a citation's source (as `kzqa ask` prints it) or a path relative to the
    corpus folder. The file is read as the index read it (HTML, .docx, .odt: the extracted
    text), so a citation's offsets mean the same here; `verified` is true when the file is still the
    one the index read (its SHA-256 matches the manifest's)."""
    if start_char < 0 or (end_char is not None and end_char < 0) or context < 0:
        raise UsageError("start, end and context must be 0 or more")
    if end_char is not None and start_char >= end_char:
        raise UsageError(f"the span is empty: start ({start_char}) must be below end ({end_char})")
    manifest = store.read_manifest(cfg.index)
    if manifest is None:
        raise StoreError(f"no index in {cfg.index}", hint="run `kzqa index`")
    path = next((p for p in corpus_paths(cfg.corpus, source) if p in manifest.files), None)
    if path is None:
        raise UsageError(
            f"{source} is not an indexed file",
            hint="give a citation's source as `kzqa ask` prints it, or a path relative to "
            f"{cfg.corpus}; a new file is indexed by `kzqa index`",
        )
    if inside(cfg.corpus, path) is None:
        raise UsageError(f"{source} leads outside the corpus folder; kzqa reads nothing there")
    try:
        doc = read_file(cfg.corpus, path)
    except OSError as exc:
        raise CorpusError(
            f"cannot read {display_source(cfg.corpus, path)}: {exc.strerror or exc}",
            hint="run `kzqa index` if it was moved or deleted",
        ) from None
    if doc is None:
        raise CorpusError(
            f"{display_source(cfg.corpus, path)} holds no readable text any more",
            hint="run `kzqa index`",
        )
    text = doc.text
    if start_char >= len(text) or (end_char is not None and end_char > len(text)):
        span = f"{start_char}-{end_char}" if end_char is not None else f"from {start_char}"
        raise UsageError(
            f"the span {span} is past the end of "
            f"{display_source(cfg.corpus, path)} ({len(text)} characters)"
        )
    end_char = len(text) if end_char is None else end_char
    start_line = text.count("\n", 0, start_char) + 1
    end_line = text.count("\n", 0, max(start_char, end_char - 1)) + 1
    paragraphs: dict[str, int] = {}  # Word, OpenDocument: cited by paragraph, as `ask` does
    if (found := paragraph_range(doc.kind, start_line, end_line)) is not None:
        paragraphs = {"paragraph": found[0], "end_paragraph": found[1]}
    return {
        "source": display_source(cfg.corpus, path),
        "start_char": start_char,
        "end_char": end_char,
        "start_line": start_line,
        "end_line": end_line,
        **paragraphs,
        "text": text[start_char:end_char],
        "before": text[max(0, start_char - context) : start_char],
        "after": text[end_char : end_char + context],
        "verified": doc.sha256 == manifest.files[path]["sha256"],
        "offsets": offsets_of(doc.kind),
        **page_fields(manifest.files[path], start_char, end_char),  # PDF: page, end_page
    }
