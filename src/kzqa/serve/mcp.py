"""MCP for agents: the tools `kzqa mcp` serves over stdio and `kzqa serve` at /mcp.

Each tool is a CLI command's twin and returns the JSON that command prints with --json:
ask (`kzqa ask`), status (`kzqa status`), index (`kzqa index`), read (`kzqa read`). A kzqa
error (a bad argument, no index, a build already running) comes back as a tool error holding
its message and hint; a bug, as the SDK's generic tool error (the traceback goes to stderr).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from .. import __version__
from ..api import build_index, open_fresh, read_span
from ..config import Config
from ..errors import KzqaError
from ..render import ask_json, dumps
from ..search import Searcher, check_mode, check_question
from .app import ClientError
from .service import Service, stderr

# Runs a blocking call off the event loop: a worker thread (stdio) or the server's bounded pool.
Runner = Callable[..., Awaitable[Any]]
MAX_WAIT = 600  # seconds `index` may wait for another build: past that an agent should re-ask

INSTRUCTIONS = """\
kzqa answers questions from a folder of documents with exact citations. Call `ask` with the
question; quote the answer sentence with its citation (source, lines). Use `read` to quote a
cited span exactly or to see the text around it, `status` to see what is indexed, and `index`
after files were added or edited."""

ASK = """\
Answer a question from the indexed documents: the top k passages, best first, each with an
exact citation. Returns the JSON of `kzqa ask --json`:
{"question", "answered", "abstain_reason", "results": [{"rank", "score", "text",
  "answer": {"text", "start_char", "end_char", "start_line", "end_line"},
  "citation": {"source", "title", "published", "author", "start_line", "end_line",
               "start_char", "end_char", "verified", "offsets",
               "paragraph", "end_paragraph",   (these two: Word and OpenDocument only)
               "page", "end_page", "page_label", "end_page_label"},   (PDF only)
  "scores": {"dense", "bm25", "confidence"}}],
 "fewer": {"asked", "repeats"}, "notes": [...]}   (these two only when there is one)

- answered: true means the top passage answers the question (answer.text is the sentence
  that does). answered: false means no passage answers it confidently: the results are only
  the closest passages; say the documents do not answer it rather than relying on them.
  abstain_reason then says why in words (e.g. "the documents never mention Thailand"); it is
  null when answered is true.
- citation.start_char/end_char are character offsets (not bytes) into the file's text:
  text[start_char:end_char] is the passage verbatim, and answer.start_char/end_char locate the
  answer sentence the same way. With "offsets": "extracted_text" (HTML, .docx, .odt, .pdf)
  they index the text kzqa extracted (a page's article, a document's paragraphs and table
  rows, a PDF's text layer), not the file's bytes; paragraph/end_paragraph number a
  document's blocks from 1. Give source and offsets to `read` to quote the span or see what
  surrounds it.
- citation.page/end_page (PDF only): the 1-based physical pages the passage is on;
  page_label/end_page_label: the pages' printed labels, when the PDF has them. Cite a PDF
  by page.
- citation.verified is true when the span was checked against the file at answer time and
  it still holds the passage; false means the file changed since it was indexed.
- start_line/end_line are 1-based and inclusive; title/published/author come from the file itself
  (null when it says nothing); a higher score is better, scores hold each retriever's evidence.
- fewer: fewer results than k came back; repeats counts passages left out because they
  repeat one shown (0: no other passage matches). notes: how the question was read (a
  question past the model's window is read only in part by the dense model).
- results is empty only when no passage matches at all (mode "bm25" and no word of the
  question occurs in the documents)."""

ASK_FRESH = """
The index is built first if there is none, and updated when the corpus changed since
(update: false answers from the old index instead; citations may then be unverified)."""

ASK_LIVE = """
Answers from the index this server keeps loaded; when `index` commits a new one the server
switches to it within a second."""

STATUS = """\
What is indexed and whether the documents changed since. Returns the JSON of
`kzqa status --json`: {"index", "corpus", "indexed"} and, once indexed, "documents",
"passages", "model", "dimension", "built_at", "generation", "index_type", "chunking",
"changes": {"added", "modified", "removed", "renamed"} (paths relative to the corpus folder;
renamed: {"from", "to"} pairs of the same bytes, as `index` reports them), "damaged" (why
the index's files cannot be used, from their sizes; null when they can) and "up_to_date".
indexed: false means no index was built yet (call `index`); up_to_date: false means files
were added, modified, removed or renamed since the last build (`index` brings it up to
date). Never loads the model: fast."""

INDEX = """\
Bring the index in line with the corpus folder: only files whose size or modification time
changed are read again, only new passages are embedded (full: true rebuilds everything,
slowly). Returns the JSON of `kzqa index --json`: {"added", "changed", "removed", "unchanged",
"renamed": [{"from", "to"}], "skipped", "passages_embedded", "passages_reused",
"passages_total", "documents", "rebuilt", "settings_changed", "seconds", "warnings"}; the lists
hold paths relative to the corpus folder, "skipped" the files that could not be indexed
(binary, empty), "rebuilt" why everything was rebuilt (null when it was not),
"settings_changed" why index files were written again though no file changed (a setting did;
null otherwise). If another build is running the
call fails saying so, unless `wait` gives seconds to wait for it."""

READ = """\
The text of an indexed file at a citation's characters [start_char, end_char), with up to
`context` characters before and after it: to quote a citation exactly, or expand it to see
what surrounds it. source is a citation's source as `ask` returns it (or a path relative to
the corpus folder); start_char/end_char are character offsets into the file's text (for HTML,
.docx, .odt and .pdf files the text kzqa extracted, as the citation's "offsets" says), exactly
as `ask` gives them; without them, the whole text. Returns the JSON of `kzqa read --json`:
{"source", "start_char", "end_char", "start_line", "end_line", "text", "before", "after",
"verified", "offsets"}, and "paragraph"/"end_paragraph" for .docx and .odt, "page"/"end_page"
for .pdf. before/after are empty when context is 0, and shorter at the start or end of the
file. verified is true when the file was re-read and is still exactly what the index read,
so the offsets mean what the citation meant; false means it changed since (call `index`,
then `ask` again). Only indexed files can be read; start_char >= end_char, or a span past
the end of the file, is an error."""

Question = Annotated[str, Field(description="The question, in plain words.")]
K = Annotated[
    int | None,
    Field(description="How many passages to return (default 5).", ge=1),
]
Mode = Annotated[
    Literal["hybrid", "dense", "bm25"] | None,
    Field(
        description="hybrid (default): meaning and exact words; dense: meaning only; "
        "bm25: exact words only."
    ),
]


def build_mcp(cfg: Config, service: Service | None = None, run: Runner | None = None) -> MCPServer:
    """The MCP server and its four tools. With `service` (inside `kzqa serve`), `ask` answers
    from its live searcher and `run` (the server's worker pool) runs each call; without, each
    `ask` refreshes the index as `kzqa ask` does, on a worker thread."""
    runner: Runner = run or _thread
    server: MCPServer = MCPServer(
        "kzqa", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    async def call(fn: Callable[..., Any], *args: Any) -> CallToolResult:
        try:
            out = await runner(fn, *args)
        except KzqaError as exc:
            raise ToolError(str(exc)) from None
        except ClientError as exc:  # the server's pool is full
            raise ToolError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from None
        return CallToolResult(
            content=[TextContent(type="text", text=dumps(out))], structured_content=out
        )

    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    if service is None:
        fresh = _Fresh(cfg)

        @server.tool(description=ASK + ASK_FRESH, structured_output=False)
        async def ask(
            question: Question,
            k: K = None,
            mode: Mode = None,
            update: Annotated[
                bool, Field(description="Update the index first if the documents changed.")
            ] = True,
        ) -> CallToolResult:
            return await call(fresh.ask, question, k, mode, update)

        @server.tool(description=STATUS, structured_output=False, annotations=reads)
        async def status() -> CallToolResult:
            from ..ops.status import index_status

            return await call(index_status, cfg)

    else:
        live = service

        @server.tool(
            name="ask", description=ASK + ASK_LIVE, structured_output=False, annotations=reads
        )
        async def ask_live(question: Question, k: K = None, mode: Mode = None) -> CallToolResult:
            return await call(live.ask, question, k, mode)

        @server.tool(name="status", description=STATUS, structured_output=False, annotations=reads)
        async def status_live() -> CallToolResult:
            return await call(live.refresh_status)

    @server.tool(
        description=INDEX,
        structured_output=False,
        annotations=ToolAnnotations(
            read_only_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def index(
        full: Annotated[bool, Field(description="Rebuild from scratch.")] = False,
        wait: Annotated[
            float,
            Field(description="Seconds to wait for another running build (default: none).", ge=0),
        ] = 0,
    ) -> CallToolResult:
        build = partial(build_index, cfg, full=full, wait=min(wait, MAX_WAIT))
        return await call(lambda: build().as_dict())

    @server.tool(description=READ, structured_output=False, annotations=reads)
    async def read(
        source: Annotated[str, Field(description="A citation's source, as `ask` returns it.")],
        start_char: Annotated[
            int, Field(description="The span's first character (default 0).", ge=0)
        ] = 0,
        end_char: Annotated[
            int | None,
            Field(description="One past the span's last character (default: the end).", ge=1),
        ] = None,
        context: Annotated[
            int, Field(description="Characters to include before and after the span.", ge=0)
        ] = 0,
    ) -> CallToolResult:
        return await call(read_span, cfg, source, start_char, end_char, context)

    return server


async def _thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(partial(fn, *args))


class _Fresh:
    """`ask` as `kzqa ask` answers, for a long-lived stdio server: the index is refreshed
    before each question, and the searcher (its loaded model) kept while it is still live."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.searcher: Searcher | None = None
        self.lock = threading.Lock()  # one refresh at a time; questions then run in parallel

    def ask(self, question: str, k: int | None, mode: str | None, update: bool) -> dict[str, Any]:
        kk = self.cfg.k if k is None else k
        check_question(question, kk)
        if mode is not None:
            check_mode(mode)
        with self.lock:
            self.searcher = open_fresh(self.cfg, update, stderr, previous=self.searcher)
            searcher = self.searcher
        return ask_json(searcher.search(question, kk, mode), self.cfg.corpus)
