"""The `kzqa` command: each command is one library call plus rendering."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from .config import Config, load_config
from .errors import EXIT_INTERNAL, KzqaError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Ask questions of a folder of documents; get passages with exact citations.",
)
T = TypeVar("T")
_state = {"debug": False}

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $KZQA_CONFIG or ./kzqa.yaml).", show_default=False
    ),
]
CorpusOpt = Annotated[
    Path | None,
    typer.Option(
        "--corpus", help="Corpus folder (default: from config, corpus/).", show_default=False
    ),
]
IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index", help="Index folder (default: from config, index/).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(fn: Callable[[], T]) -> T:
    """Turn kzqa errors into one stderr line and their exit code; never a traceback."""
    try:
        return fn()
    except KzqaError as exc:
        if _state["debug"]:
            traceback.print_exc()
        _err(f"kzqa: error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _err("kzqa: interrupted")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if _state["debug"]:
            traceback.print_exc()
        _err(f"kzqa: internal error: {type(exc).__name__}: {exc} (rerun with --debug)")
        raise typer.Exit(EXIT_INTERNAL) from None


def _keep_going(fn: Callable[[], None]) -> None:
    """Like _run, but an error is reported and the caller carries on (for --watch)."""
    try:
        _run(fn)
    except typer.Exit as exc:
        if exc.exit_code == 130:
            raise


def _config(config: Path | None, corpus: Path | None, index: Path | None) -> Config:
    return _run(lambda: load_config(config, corpus, index))


def _progress() -> Callable[[str, int], Callable[[int], None]] | None:
    """A tqdm bar on stderr for each stage of a build ("reading" in bytes, "embedding" in
    passages, "exporting" the question encoder, once per model) when stderr is a terminal;
    nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    def start(what: str, total: int) -> Callable[[int], None]:
        from tqdm import tqdm

        unit = {"reading": "B", "exporting": "model"}.get(what, "passage")
        bar = tqdm(
            total=total,
            desc={"exporting": "exporting the question encoder (once)"}.get(what, what),
            unit=unit,
            unit_scale=unit == "B",
            file=sys.stderr,
            leave=False,
        )

        def advance(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return advance

    return start


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug


@app.command()
def index(
    config: ConfigOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild from scratch.")] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", help="Seconds to wait for another running build (default: refuse).", min=0
        ),
    ] = 0,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep watching the corpus and re-index on change.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Build or update the index from the corpus (only the work the change needs)."""
    from .api import build_index

    cfg = _config(config, corpus, index)

    def once(full_build: bool, stamp: bool = False) -> None:
        report = build_index(cfg, full=full_build, progress=_progress(), wait=wait)
        for warning in report.warnings:
            _err(f"kzqa: warning: {warning}")
        if json_out:
            from .render import dumps

            print(dumps(report.as_dict()), flush=True)
        else:
            from .render import index_text

            # Under --watch each line says when: a log that runs for hours is read by time.
            when = time.strftime("%Y-%m-%d %H:%M:%S ") if stamp else ""
            print(when + index_text(report), flush=True)

    _run(lambda: once(full, stamp=watch))
    if watch:
        from .ops.watch import watch_corpus

        _err(f"kzqa: watching {cfg.corpus} (Ctrl-C to stop)")
        _run(lambda: watch_corpus(cfg, lambda: _keep_going(lambda: once(False, stamp=True))))


@app.command()
def ask(
    question: Annotated[
        str | None, typer.Argument(help="The question.", show_default=False)
    ] = None,
    k: Annotated[
        int | None, typer.Option("-k", help="Number of passages (default 5).", show_default=False)
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="Answer one question per line of FILE ('-' for stdin).",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="dense, bm25 or hybrid (default: hybrid).", show_default=False),
    ] = None,
    no_update: Annotated[
        bool,
        typer.Option(
            "--no-update", help="Answer from the existing index even if the corpus changed."
        ),
    ] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
) -> None:
    """Answer a question with the best passages and exact citations."""
    from .api import open_fresh
    from .render import ask_json, ask_text, dumps
    from .search import check_mode, check_question

    cfg = _config(config, corpus, index)
    kk = cfg.k if k is None else k
    questions = _run(lambda: _questions(question, file))
    _run(lambda: check_question(questions[0], kk))
    if mode is not None:
        _run(lambda: check_mode(mode))  # before any (re)indexing
    searcher = _run(lambda: open_fresh(cfg, not no_update, _err, progress=_progress()))
    color = sys.stdout.isatty()
    for q in questions:
        result = _run(partial(searcher.search, q, kk, mode))
        if not json_out:  # JSON carries them as "notes"
            for note in result.notes:
                _err(f"kzqa: note: {note}")
        if json_out:
            print(dumps(ask_json(result, cfg.corpus)), flush=True)
        else:
            print(ask_text(result, cfg.corpus, color=color), flush=True)


def _questions(question: str | None, file: str | None) -> list[str]:
    if (question is None) == (file is None):
        raise UsageError(
            "give a QUESTION or --file FILE (one question per line), not both"
            if question is not None
            else "give a QUESTION or --file FILE"
        )
    if question is not None:
        return [question]
    assert file is not None
    try:
        raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read questions from {file}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    questions = [line.strip() for line in raw.splitlines() if line.strip()]
    if not questions:
        raise UsageError(f"no questions in {file}")
    return questions


@app.command()
def read(
    source: Annotated[
        str,
        typer.Argument(
            help="A citation's source (as `kzqa ask` prints it) or a path relative to the corpus.",
            show_default=False,
        ),
    ],
    start: Annotated[
        int, typer.Argument(help="start_char of the span (default: 0).", show_default=False)
    ] = 0,
    end: Annotated[
        int | None,
        typer.Argument(help="end_char of the span (default: the end).", show_default=False),
    ] = None,
    context: Annotated[
        int, typer.Option("--context", help="Also show N characters before and after it.")
    ] = 0,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
) -> None:
    """Print an indexed file's text at a citation's characters [START, END) (with --context);
    without START and END, its whole text (for HTML, Word, OpenDocument and PDF: as extracted)."""
    from .api import read_span
    from .render import dumps, read_text

    cfg = _config(config, corpus, index)
    span = _run(lambda: read_span(cfg, source, start, end, context))
    if json_out:
        print(dumps(span), flush=True)
    else:
        print(read_text(span, color=sys.stdout.isatty()), end="", flush=True)


@app.command()
def status(
    config: ConfigOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Say what is indexed and whether the corpus changed since (never loads the model)."""
    from .ops.status import index_status
    from .render import dumps, status_text

    cfg = _config(config, corpus, index)
    info = _run(lambda: index_status(cfg))
    if json_out:
        print(dumps(info))
        return
    print(status_text(info), end="")


@app.command()
def verify(
    config: ConfigOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check the index against its manifest and the corpus; exit 8 on any mismatch."""
    from .errors import EXIT_VERIFY
    from .ops.verify import verify_index
    from .render import dumps

    cfg = _config(config, corpus, index)
    verdict = _run(lambda: verify_index(cfg))
    if json_out:
        print(dumps({"ok": verdict.ok, "problems": verdict.problems, "next": verdict.next}))
    elif verdict.problems:
        for line in verdict.problems:
            _err(f"kzqa: verify: {line}")
        _err(f"Next: run `{verdict.next}`")
    else:
        print("ok: the index matches its manifest and the corpus")
    if verdict.problems:
        raise typer.Exit(EXIT_VERIFY)


@app.command("eval")
def eval_(
    dataset: Annotated[
        Path, typer.Argument(help="A BEIR-style folder: corpus.jsonl, queries.jsonl, qrels.tsv.")
    ],
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="dense, bm25 or hybrid (default: hybrid).", show_default=False),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="A folder for the eval's corpus/ and index/, new or used only by eval "
            "(default: a cache folder keyed by dataset, settings).",
            show_default=False,
        ),
    ] = None,
    k: Annotated[
        int, typer.Option("-k", help="Also report nDCG@k and Recall@k (besides @10 and @100).")
    ] = 10,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Measure retrieval quality on a BEIR-style dataset (nDCG@10, Recall@10/100, MRR@10)."""
    from .ops.evaluate import run_eval
    from .render import dumps, eval_text

    cfg = _config(config, None, None)
    report = _run(lambda: run_eval(cfg, dataset, mode, index, k, progress=_progress(), log=_err))
    if json_out:
        print(dumps(report), flush=True)
        return
    print(eval_text(report, k), end="")


@app.command("mcp")
def mcp_(
    config: ConfigOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
) -> None:
    """Serve MCP over stdio for an agent: the tools ask, status, index and read."""
    from .serve.mcp import build_mcp

    cfg = _config(config, corpus, index)
    server = _run(lambda: build_mcp(cfg))
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        pass


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback unless you mean otherwise).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port (0: any free port).", min=0, max=65535)
    ] = 8765,
    log_requests: Annotated[
        bool, typer.Option("--log-requests", help="Log each request on stderr.")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="A host name clients may use to reach the server (repeatable). IP addresses "
            "and localhost always work; other names are refused (DNS rebinding).",
            show_default=False,
        ),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            help="Answer questions in this many processes, each holding the index and the model "
            "(memory x N). With many clients at once, one per core uses the cores fully.",
            min=1,
            max=64,
        ),
    ] = 1,
    config: ConfigOpt = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
) -> None:
    """Serve the web page at /, the JSON API (/ask?q=…, as `kzqa ask --json`) and MCP at /mcp."""
    # Requests run in parallel threads; a multi-threaded BLAS under each of them only fights
    # for the cores (8 clients, 10k passages: warm p50 105 -> 53 ms single-threaded). Set
    # before numpy is first imported, which the server module does.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from .serve import is_loopback, make_server

    cfg = _config(config, corpus, index)
    server = _run(
        lambda: make_server(
            cfg, host, port, _err, log_requests, allow_host or (), processes=processes
        )
    )
    if not is_loopback(host):
        _err(f"kzqa serve: warning: listening on {host}: whoever reaches it can read the index")
    _err(f"kzqa serve: answering on {server.url}/ask?q=… and {server.url}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    _err("kzqa serve: stopped")


def main() -> None:
    """The `kzqa` script. Typer's own usage errors (an unknown option, `-k abc`) become one
    `kzqa: error:` line like every other error, with their exit code (2), not a box."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="kzqa", standalone_mode=False)
    except Exception as exc:
        # Click's exceptions (Typer's own copy of Click, or Click: either has these two).
        message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if type(exc).__name__ == "Abort":  # Ctrl-C or end of input while Click was parsing
            _err("kzqa: interrupted")
            sys.exit(130)
        if message is None or not isinstance(exit_code, int):
            raise
        _err(f"kzqa: error: {message()} (see `kzqa --help`)")
        sys.exit(exit_code)
    sys.exit(code if isinstance(code, int) else 0)
