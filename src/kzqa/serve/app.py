"""The HTTP side of `kzqa serve`: a Starlette app on uvicorn.

    GET  /ask?q=…&k=…&mode=…    POST /ask {"q": "…", "k": 5, "mode": "hybrid"}
    GET  /status                 what `kzqa status --json` says, plus the live generation
    GET  /healthz                {"ok": true, "generation": "gen-…"}
    GET  /, /doc, /raw           the web page (page.py)

API errors are JSON, `{"error": "…", "hint": "…"}`: 4xx for what the client can fix, 503 while
no index can be opened or every worker is busy, and a 500 without a traceback (that goes to
stderr) for a bug. Questions are answered by a bounded pool of threads (WORKERS); QUEUE more
may wait for one, and past that a request gets 503 at once instead of an unbounded backlog.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
import traceback
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Config
from ..errors import KzqaError, UsageError
from ..render import dumps
from .service import Log, Service, stderr

DEFAULT_HOST = "127.0.0.1"  # loopback: the index is private data unless the user says otherwise
DEFAULT_PORT = 8765
MAX_BODY_BYTES = 64 * 1024  # a POST /ask body is a question and two numbers
# Questions answered at once. Each holds a core while its question is embedded and scored; on
# 2 cores, more threads only interleave the same work (bench/perf/serve_load.py).
WORKERS = 4
QUEUE = 256  # questions that may wait for a worker; past that: 503, try again later
KEEP_ALIVE_SECONDS = 30  # an idle keep-alive connection is closed after this
SHUTDOWN_SECONDS = 5  # requests still running when the server stops get this long to finish
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
STATIC = Path(__file__).parent / "static"
T = TypeVar("T")


class ClientError(Exception):
    """A request the client can fix: its status, message and hint."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


class KzqaJSON(JSONResponse):
    """The JSON `kzqa ask --json` prints, byte for byte, with a final newline."""

    def render(self, content: Any) -> bytes:
        return (dumps(content) + "\n").encode("utf-8")


class Workers:
    """The bounded pool that answers questions: WORKERS at once, QUEUE waiting, then 503."""

    def __init__(self, workers: int = WORKERS, queue: int = QUEUE) -> None:
        self.workers = workers
        self.queue = queue
        self.waiting = 0
        self._limiter: anyio.CapacityLimiter | None = None  # made in the server's event loop

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)
        limiter = self._limiter
        if limiter.available_tokens == 0 and self.waiting >= self.queue:
            raise ClientError(503, "the server is busy", "try again in a moment")
        self.waiting += 1
        try:
            await limiter.acquire()
        finally:
            self.waiting -= 1
        try:
            return await anyio.to_thread.run_sync(fn, *args)
        finally:
            limiter.release()


# The hint of a malformed request that names none of its own: how a good one looks.
USAGE = 'ask as GET /ask?q=…&k=5&mode=hybrid, or POST /ask with {"q": "…", "k": 5}'


def _error(status: int, message: str, hint: str | None = None) -> KzqaJSON:
    if hint is None and status in (400, 413):
        hint = USAGE
    body: dict[str, Any] = {"error": message}
    if hint:
        body["hint"] = hint
    return KzqaJSON(body, status_code=status)


def api_errors(service: Service) -> Callable[[Callable[[Request], Any]], Any]:
    """Wrap an endpoint so every failure is a JSON error with the right status."""

    def wrap(endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except ClientError as exc:
                return _error(exc.status, exc.message, exc.hint)
            except UsageError as exc:
                return _error(400, exc.message, exc.hint)
            except KzqaError as exc:  # the index is missing or damaged: not the client's fault
                return _error(503, exc.message, exc.hint)
            except Exception:
                service.log("kzqa serve: internal error:\n" + traceback.format_exc())
                return _error(500, "internal error (the traceback is in the server's log)")

        return run

    return wrap


async def read_body(request: Request) -> bytes:
    """The body (Content-Length or chunked), refused past MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ClientError(400, "bad Content-Length")
    if declared is not None and int(declared) > MAX_BODY_BYTES:
        raise ClientError(413, f"the body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ClientError(413, f"the body is over {MAX_BODY_BYTES} bytes")
    return bytes(body)


def json_args(body: bytes) -> dict[str, Any]:
    """A POST /ask body: a JSON object of q (or question), k and mode, in valid Unicode."""
    try:
        args = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ClientError(400, "the body is not JSON") from None
    except RecursionError:
        raise ClientError(400, "the body is nested too deeply") from None
    if not isinstance(args, dict):
        raise ClientError(400, 'the body must be a JSON object: {"q": "…"}')
    unknown = sorted(set(args) - {"q", "question", "k", "mode"})
    if unknown:
        raise ClientError(400, f"unknown field '{unknown[0]}'")
    if "question" in args:
        args.setdefault("q", args.pop("question"))
    if "q" not in args:
        raise ClientError(400, 'give the question: {"q": "…"}')
    for name, value in args.items():
        if isinstance(value, str) and not _valid_unicode(value):
            raise ClientError(400, f"{name} is not valid Unicode (a lone surrogate?)")
    return args


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def query_args(request: Request) -> dict[str, str]:
    """GET /ask's parameters; each at most once."""
    items = request.query_params.multi_items()
    names = [name for name, _ in items]
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated:
        raise ClientError(400, f"{repeated} is given more than once")
    args = dict(items)
    if "q" not in args:
        raise ClientError(400, "give the question: /ask?q=…")
    return args


def build_app(service: Service, workers: Workers | None = None) -> Starlette:
    """The whole app: the JSON API, the web page and its assets."""
    from .page import page_routes

    pool = workers or Workers()
    errors = api_errors(service)

    @errors
    async def ask(request: Request) -> Response:
        if request.method == "POST":
            args: dict[str, Any] = json_args(await read_body(request))
        else:
            args = query_args(request)
        answer = await pool.run(service.ask, args.get("q"), args.get("k"), args.get("mode"))
        return KzqaJSON(answer)

    @errors
    async def status(request: Request) -> Response:
        return KzqaJSON(await pool.run(service.status))

    @errors
    async def healthz(request: Request) -> Response:
        return KzqaJSON({"ok": True, "generation": service.generation})

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            allowed = sorted((exc.headers or {}).get("Allow", "GET").split(", "))
            listed = " or ".join([", ".join(allowed[:-1]), allowed[-1]] if allowed[1:] else allowed)
            return _error(405, f"{request.url.path} takes {listed}")
        return _error(exc.status_code, f"no such path: {request.url.path}")

    mcp = mcp_app(service, pool)
    routes = [
        Route("/ask", ask, methods=["GET", "POST"]),
        Route("/status", status, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        *page_routes(service, pool),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *mcp.routes,
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.router.lifespan_context(app):  # runs the MCP session manager
            yield
        # Here, not after uvicorn returns: on SIGTERM it re-raises the signal once shut down.
        if service.answerers is not None:
            service.answerers.close()

    return Starlette(
        routes=routes, exception_handlers={HTTPException: not_found}, lifespan=lifespan
    )


def mcp_app(service: Service, pool: Workers) -> Starlette:
    """MCP over streamable HTTP at /mcp: the tools of `kzqa mcp`, answered by the live service
    on the same worker pool. HostCheck guards it like every path (the SDK's own Host check
    knows no --allow-host names, so it is off); a browser on another site cannot POST its
    JSON without a CORS preflight, which this server never grants."""
    from mcp.server.transport_security import TransportSecuritySettings

    from .mcp import build_mcp

    return build_mcp(service.cfg, service, pool.run).streamable_http_app(
        streamable_http_path="/mcp",
        max_request_body_size=MAX_BODY_BYTES,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


class HostCheck:
    """Refuse requests addressed to a name the server was not told it has (421).

    A web page on another site can make a browser send requests to a name it controls that
    resolves to this machine (DNS rebinding); such requests carry that name in Host. An IP
    address, `localhost`, or a name given with --allow-host is accepted; any other name is not.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = LOOPBACK_NAMES | {name.lower() for name in allowed}

    def host_allowed(self, header: str) -> bool:
        name = header.strip().lower()
        if name.startswith("["):  # [::1]:8765
            name = name[1 : name.find("]")] if "]" in name else name
        elif name.count(":") == 1:
            name = name.rsplit(":", 1)[0]
        if name in self.allowed:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1")
            if not self.host_allowed(host):
                response = _error(
                    421, "unexpected Host header", "start kzqa serve with --allow-host NAME"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Server:
    """uvicorn serving the app on a socket bound here (so port 0 names its port at once)."""

    def __init__(
        self,
        sock: socket.socket,
        service: Service,
        app: ASGIApp,
        workers: Workers,
        log_requests: bool = False,
    ) -> None:
        import uvicorn

        self.socket = sock
        self.service = service
        self.workers = workers
        self.server_address = sock.getsockname()
        config = uvicorn.Config(
            app,
            # Pure-Python parser, named so an installed httptools is not picked up ("auto"):
            # httptools was no faster on /ask (2026-12-01, 8 clients 1.06x answers/s, 1 client
            # p50 1.10x slower; BENCHMARKS.md), as HTTP is under 2% of an answer's CPU.
            http="h11",
            log_level="warning",
            access_log=log_requests,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            lifespan="on",  # the MCP session manager runs for the server's lifetime
            # An agent's open MCP stream must not hold a stopping server forever.
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            server_header=False,
        )
        self.uvicorn = uvicorn.Server(config)
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def serve_forever(self) -> None:
        """Answer until shutdown() (or Ctrl-C, in the main thread)."""
        self.service.start_watching()
        try:
            self.uvicorn.run(sockets=[self.socket])
        finally:
            self.service.stop_watching()
            self._stopped.set()

    def shutdown(self, timeout: float = 30) -> None:
        self.uvicorn.should_exit = True
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def make_server(
    cfg: Config,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log: Log = stderr,
    log_requests: bool = False,
    allow_hosts: Iterable[str] = (),
    workers: int = WORKERS,
    queue: int = QUEUE,
    processes: int = 1,
) -> Server:
    """Open the index and bind; call serve_forever() on the result (port 0: any free port).
    `processes` > 1: questions are answered in that many processes (processes.py)."""
    service = Service(cfg, log, searching=processes == 1)
    sock = bind(host, port)
    if processes > 1:
        from .processes import Answerers

        try:
            service.answerers = Answerers(cfg, processes, log)
        except BaseException:
            sock.close()
            raise
        # Each process answers one question at a time; a few more in flight keep them fed.
        workers = max(workers, 2 * processes)
    pool = Workers(workers, queue)
    app = HostCheck(build_app(service, pool), allow_hosts)
    return Server(sock, service, app, pool, log_requests)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host (a name, an IPv4 or an IPv6 address) and port."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --host or --port, or stop what holds this one",
        ) from None
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
