"""`kzqa serve --processes N`: questions answered in N processes, each with its own Service.

One process answers with threads, and only one thread runs Python at a time (the GIL): with 8
clients on 2 cores that turned 0.75 of the cores into answers; two answering processes, 0.90
(bench/perf/serve_load.py --processes 2). Each process loads the index and the question encoder
(memory x N) and swaps to a new generation by itself, as replicas do. The server's own process
keeps HTTP, MCP, the web page, /status and the answers to repeated questions, and hands each
new question to a free process over a pipe of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from ..config import Config
from ..errors import KzqaError
from ..records import AskResult
from .service import Fresh, Log, Service, stderr

ORPHAN_POLL_SECONDS = 1.0  # how often an answering process checks the server still runs


def _serve(conn: Connection, cfg: Config) -> None:
    """An answering process: open the index, say so, then answer until told to stop. Ctrl-C
    reaches the whole process group; the server stops these processes itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    try:
        service = Service(cfg, log=_problems)
        service.start_watching()
    except Exception as exc:
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ok", None))
    while True:
        try:
            asked = conn.recv()
        except EOFError:
            return
        if asked is None:
            return
        method, args = asked
        try:
            conn.send(("ok", getattr(service, method)(*args)))
        except Exception as exc:
            conn.send(("error", _portable(exc)))


def _portable(exc: Exception) -> Exception:
    """What the server's process raises for a failure here: a KzqaError as it is (it pickles
    with its hint), anything else, a bug, with its traceback in the message."""
    if isinstance(exc, KzqaError):
        return exc
    return RuntimeError(f"in an answering process:\n{traceback.format_exc()}")


def _exit_with(parent: int) -> None:
    """End this process once the server's is gone: one killed (or stopped by SIGTERM, which
    uvicorn re-raises after its shutdown) never says goodbye."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_SECONDS)
    os._exit(0)


def _problems(message: str) -> None:
    """An answering process's log: what went wrong (the server's own process says when it
    reloaded, once rather than N + 1 times)."""
    if " reloaded the index " not in message:
        stderr(message)


class _Answerer:
    """One answering process and the pipe to it; started again when it has died."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.conn: Connection | None = None
        self.process: Any = None
        self.loaded = False  # it said it has the index open

    def start(self) -> None:
        # spawn, not fork: the server's process has threads (the reload watcher, ONNX
        # Runtime's), and a forked copy of a held lock never unlocks.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, self.cfg), daemon=True)
        self.process.start()
        theirs.close()
        self.conn = ours

    def ready(self) -> None:
        """Wait until the process has opened the index; its error if it could not."""
        assert self.conn is not None
        try:
            status, error = self.conn.recv()
        except EOFError:
            status, error = "error", KzqaError("an answering process stopped as it started")
        if status != "ok":
            self.stop()
            raise error
        self.loaded = True

    def call(self, method: str, args: tuple[Any, ...]) -> Any:
        """Service.<method>(*args) in this process; starts it first if it is not running."""
        if self.conn is None:
            self.start()
        if not self.loaded:
            self.ready()
        assert self.conn is not None
        self.conn.send((method, args))
        status, value = self.conn.recv()  # EOFError: the process died
        if status != "ok":
            raise value
        return value

    def stop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.conn.close()
        if self.process is not None:
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn = self.process = None
        self.loaded = False


class Answerers:
    """N answering processes; each question goes to a free one. A process that died is
    started again and the question asked once more (answering writes nothing)."""

    def __init__(self, cfg: Config, processes: int, log: Log) -> None:
        self.log = log
        self._all = [_Answerer(cfg) for _ in range(processes)]
        self._free: queue.SimpleQueue[_Answerer] = queue.SimpleQueue()
        # All start at once, and the server answers only when every one has the index
        # loaded: an index that will not open fails here, not on a request.
        for answerer in self._all:
            answerer.start()
        try:
            for answerer in self._all:
                answerer.ready()
        except BaseException:
            self.close()
            raise
        for answerer in self._all:
            self._free.put(answerer)

    def answer(self, question: str, k: int, mode: str | None) -> Fresh:
        """Service.answer (the JSON API's and MCP's), in the next free process."""
        return self._call("answer", (question, k, mode))  # type: ignore[no-any-return]

    def search(self, question: str, k: int, mode: str | None) -> AskResult:
        """Service.search (the web page's), in the next free process."""
        return self._call("search", (question, k, mode))  # type: ignore[no-any-return]

    def _call(self, method: str, args: tuple[Any, ...]) -> Any:
        for _ in range(2):
            answerer = self._free.get()
            try:
                return answerer.call(method, args)
            except (EOFError, OSError):
                self.log("kzqa serve: an answering process stopped; starting another")
                answerer.stop()
                answerer.start()  # loads while the others answer
            finally:
                self._free.put(answerer)
        raise KzqaError(
            "an answering process stopped twice while answering this question",
            hint="the server's log may say why",
        )

    def close(self) -> None:
        for answerer in self._all:
            answerer.stop()
