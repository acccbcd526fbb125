"""The web page of `kzqa serve`: a search box, cited results, and the document view.

    GET /?q=…&k=…     the results (the URL holds the question: bookmark it, share it)
    GET /doc?source=…&start=…&end=…&astart=…&aend=…#hit
                      the whole document, the cited passage in <mark id="hit">, the answer
                      sentence marked inside it
    GET /raw?source=… the file itself, as plain text (never run as a page); a PDF as a PDF

Server-rendered: Jinja2 escapes every value (document text included), and the Content
Security Policy lets the page load only this server's own script and style, so a corpus file
holding `<script>` shows as text and could not run even if it slipped through.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from ..corpus import charset_of, page_fields
from ..errors import KzqaError, UsageError
from ..records import EXTRACTED, Hit, Source
from ..render import display_source
from .service import Service

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The raw file: shown as text, in a sandbox, never sniffed into HTML.
RAW_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}
# A PDF opens in the browser's own viewer, which runs apart from this origin; a sandbox or
# `object-src 'none'` would keep Chrome's viewer from showing it at all.
PDF_HEADERS = {"X-Content-Type-Options": "nosniff"}
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def page_routes(service: Service, pool: Any) -> list[Route]:
    """The page's routes; questions run on the API's worker pool."""

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context["status"] = service.status()
        response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(PAGE_HEADERS)
        return response

    async def home(request: Request) -> Response:
        params = request.query_params
        question = params.get("q", "").strip()
        k = params.get("k", "")
        context: dict[str, Any] = {"question": question, "k": k, "result": None, "error": None}
        if question:
            try:
                context["result"] = await pool.run(service.search, question, k, None)
            except UsageError as exc:
                context["error"] = exc.message
                return render(request, "index.html", 400, **context)
            except KzqaError as exc:
                context["error"] = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
                return render(request, "index.html", 503, **context)
        context["corpus"] = service.cfg.corpus
        return render(request, "index.html", **context)

    async def document(request: Request) -> Response:
        params = request.query_params
        source = params.get("source", "")
        try:
            doc, meta = await pool.run(service.document, source)
        except LookupError:
            return render(request, "error.html", 404, message=f"no indexed file {source!r}")
        spans = [_offset(params.get(name), len(doc.text)) for name in ("start", "end")]
        answer = [_offset(params.get(name), len(doc.text)) for name in ("astart", "aend")]
        parts = _marked(doc.text, spans, answer)
        pages = ""
        start, end = spans
        if parts is not None and start is not None and end is not None:
            pages = Source(None, None, doc.kind, True, **page_fields(meta, start, end)).pages_text()
        return render(
            request,
            "doc.html",
            doc=doc,
            meta=meta,
            parts=parts,
            notice=_span_notice([params.get("start"), params.get("end")], len(doc.text)),
            pages=pages,
            shown=display_source(service.cfg.corpus, source),
            cited=parts is not None,
            extracted=doc.kind in EXTRACTED,
        )

    async def raw(request: Request) -> Response:
        source = request.query_params.get("source", "")
        path = service.served(source)
        if path is None:
            return render(request, "error.html", 404, message=f"no indexed file {source!r}")
        try:
            data = await pool.run(path.read_bytes)
        except OSError as exc:
            return render(request, "error.html", 404, message=f"cannot read {source}: {exc}")
        kind = mimetypes.guess_type(source)[0] or "application/octet-stream"
        if kind.startswith("text/"):  # HTML too: shown as text, in the encoding kzqa read
            kind = f"text/plain; charset={charset_of(data, source)}"
        headers = {
            **(PDF_HEADERS if kind == "application/pdf" else RAW_HEADERS),
            "Content-Disposition": f"inline; filename*=UTF-8''{_quote(Path(source).name)}",
        }
        return Response(data, media_type=kind, headers=headers)

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    return [
        Route("/", home, methods=["GET"]),
        Route("/doc", document, methods=["GET"]),
        Route("/raw", raw, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]


def _offset(value: str | None, limit: int) -> int | None:
    if value is None or not value.isdigit():
        return None
    return min(int(value), limit)


def _span_notice(asked: list[str | None], length: int) -> str:
    """Why the span a URL names is not (or not wholly) highlighted; "" when it is, or when
    the URL names none. A citation from before the file changed can point past its end."""
    start, end = asked
    if start is None and end is None:
        return ""
    first, last = (int(start), int(end)) if start and end and (start + end).isdigit() else (0, 0)
    if first < last <= length:
        return ""
    shown = "the whole text is shown"
    if first < min(last, length):
        shown = "the part inside it is highlighted"
    return (
        f"Characters {start or '?'}–{end or '?'} are not a span of this document, which has "
        f"{length:,} characters: {shown}"
    )


def _marked(text: str, span: list[int | None], answer: list[int | None]) -> dict[str, str] | None:
    """The document cut around the cited span and, inside it, the answer sentence."""
    start, end = span
    if start is None or end is None or start >= end:
        return None
    a_start, a_end = answer
    if a_start is None or a_end is None or not start <= a_start < a_end <= end:
        a_start = a_end = start
    return {
        "before": text[:start],
        "lead": text[start:a_start],
        "answer": text[a_start:a_end],
        "tail": text[a_end:end],
        "after": text[end:],
    }


def _quote(name: str) -> str:
    return quote(name, safe="")


def doc_url(hit: Hit) -> str:
    """The document view of a hit's file, scrolled to its passage, the answer marked."""
    p, a = hit.passage, hit.answer
    query = urlencode(
        {"source": p.path, "start": p.start_char, "end": p.end_char}
        | {"astart": a.start_char, "aend": a.end_char}
    )
    return f"/doc?{query}#hit"


def raw_url(path: str) -> str:
    return "/raw?" + urlencode({"source": path})


def locator(hit: Hit) -> str:
    """Where in its file a hit is, after the path, as the text output names it: the page of a
    PDF, the paragraphs of a Word or OpenDocument file, else the lines."""
    p, src = hit.passage, hit.source
    if src.page:
        return f" {src.pages_text()}"
    if paragraphs := hit.paragraphs_text():
        return f", {paragraphs}"
    return f":{p.start_line}" if p.start_line == p.end_line else f":{p.start_line}–{p.end_line}"


TEMPLATES.env.globals.update(doc_url=doc_url, raw_url=raw_url, locator=locator)
