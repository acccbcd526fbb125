"""The HTTP side of `kzqa serve` (http.server): routes, JSON bodies and errors, the Host check.

    GET  /ask?q=…&k=…&mode=…    POST /ask {"q": "…", "k": 5, "mode": "hybrid"}
    GET  /status                 what `kzqa status --json` says, plus the live generation
    GET  /healthz                {"ok": true, "generation": "gen-…"}

Errors are JSON, `{"error": "…", "hint": "…"}`: 4xx for what the client can fix, 503 while no
index can be opened, and a 500 without a traceback (that goes to stderr) for a bug.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import Config
from ..errors import KzqaError, UsageError
from ..render import dumps
from .service import Log, Service, stderr

DEFAULT_HOST = "127.0.0.1"  # loopback: the index is private data unless the user says otherwise
DEFAULT_PORT = 8765
MAX_BODY_BYTES = 64 * 1024  # a POST /ask body is a question and two numbers


class ClientError(Exception):
    """A request the client can fix: its status and message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client sends many questions on one socket
    timeout = 30  # seconds: an idle or half-sent request does not hold a thread forever
    server: Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for
        # the client's delayed ACK of the headers: +40 ms on every keep-alive answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._respond(self._route("GET"))

    def do_POST(self) -> None:
        self._respond(self._route("POST"))

    def do_PUT(self) -> None:
        self._respond(self._route("PUT"))

    def do_DELETE(self) -> None:
        self._respond(self._route("DELETE"))

    def _route(self, method: str) -> tuple[HTTPStatus, dict[str, Any]]:
        service = self.server.service
        # A body left unread would be taken for the next request on this connection.
        self._unread_body = self.headers.get("Content-Length", "0").strip() not in ("", "0")
        try:
            url = urlsplit(self.path)
            routes = {
                "/ask": ("GET", "POST"),
                "/status": ("GET",),
                "/healthz": ("GET",),
            }
            if not self.server.host_allowed(self.headers.get("Host", "")):
                # DNS rebinding: a web page must not reach a loopback server by another name.
                raise ClientError(HTTPStatus.MISDIRECTED_REQUEST, "unexpected Host header")
            if url.path not in routes:
                raise ClientError(HTTPStatus.NOT_FOUND, f"no such path: {url.path}")
            if method not in routes[url.path]:
                raise ClientError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{url.path} takes {' or '.join(routes[url.path])}",
                )
            body = self._body() if method == "POST" else None
            if url.path == "/healthz":
                return HTTPStatus.OK, {"ok": True, "generation": service.generation}
            if url.path == "/status":
                return HTTPStatus.OK, service.status()
            args = self._ask_args(url.query) if body is None else _json_args(body)
            return HTTPStatus.OK, service.ask(args.get("q"), args.get("k"), args.get("mode"))
        except ClientError as exc:
            return exc.status, {"error": exc.message}
        except UsageError as exc:
            return HTTPStatus.BAD_REQUEST, _error_json(exc)
        except KzqaError as exc:  # the index is missing or damaged: not the client's fault
            return HTTPStatus.SERVICE_UNAVAILABLE, _error_json(exc)
        except Exception:
            service.log("kzqa serve: internal error:\n" + traceback.format_exc())
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": "internal error (the traceback is in the server's log)"
            }

    def _ask_args(self, query: str) -> dict[str, Any]:
        try:
            raw = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=16)
        except ValueError as exc:
            raise ClientError(HTTPStatus.BAD_REQUEST, f"bad query string: {exc}") from None
        repeated = [name for name, values in raw.items() if len(values) > 1]
        if repeated:
            raise ClientError(HTTPStatus.BAD_REQUEST, f"{repeated[0]} is given more than once")
        args = {name: values[0] for name, values in raw.items()}
        if "q" not in args:
            raise ClientError(HTTPStatus.BAD_REQUEST, "give the question: /ask?q=…")
        return args

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise ClientError(HTTPStatus.LENGTH_REQUIRED, "POST needs a Content-Length")
        try:
            size = int(length)
        except ValueError:
            raise ClientError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if size < 0:
            raise ClientError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        if size > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            raise ClientError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY_BYTES} bytes"
            )
        body = self.rfile.read(size)
        self._unread_body = False
        return body

    def _respond(self, answer: tuple[HTTPStatus, dict[str, Any]]) -> None:
        status, payload = answer
        data = (dumps(payload) + "\n").encode("utf-8")
        if getattr(self, "_unread_body", False):
            self.close_connection = True
        self.send_response(status)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (malformed request line, headers too long) as JSON too."""
        self.close_connection = True
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.BAD_REQUEST
        self._respond((status, {"error": message or status.phrase}))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            self.server.service.log(f"kzqa serve: {self.address_string()} {format % args}")


def _json_args(body: bytes) -> dict[str, Any]:
    try:
        args = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ClientError(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
    if not isinstance(args, dict):
        raise ClientError(HTTPStatus.BAD_REQUEST, 'the body must be a JSON object: {"q": "…"}')
    unknown = sorted(set(args) - {"q", "question", "k", "mode"})
    if unknown:
        raise ClientError(HTTPStatus.BAD_REQUEST, f"unknown field '{unknown[0]}'")
    if "question" in args:
        args.setdefault("q", args.pop("question"))
    if "q" not in args:
        raise ClientError(HTTPStatus.BAD_REQUEST, 'give the question: {"q": "…"}')
    return args


def _error_json(exc: KzqaError) -> dict[str, Any]:
    out: dict[str, Any] = {"error": exc.message}
    if exc.hint:
        out["hint"] = exc.hint
    return out


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a client that keeps its socket open does not block shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: Service, log_requests: bool) -> None:
        super().__init__(address, Handler)
        self.service = service
        self.log_requests = log_requests

    def host_allowed(self, header: str) -> bool:
        """On loopback, only requests addressed to a loopback name (not a rebound domain)."""
        if not is_loopback(str(self.server_address[0])):
            return True
        name = header.rsplit(":", 1)[0] if not header.endswith("]") else header
        return name.strip("[]").lower() in LOOPBACK_NAMES

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self.service.start_watching()
        try:
            super().serve_forever(poll_interval)
        finally:
            self.service.stop_watching()


def make_server(
    cfg: Config,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log: Log = stderr,
    log_requests: bool = False,
) -> Server:
    """Open the index and bind; call serve_forever() on the result (port 0: any free port)."""
    service = Service(cfg, log)
    try:
        return Server((host, port), service, log_requests)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port, or stop what holds this one",
        ) from None


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
