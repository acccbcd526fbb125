"""`kzqa serve --processes N`: questions answered in N processes, each with its own Service.

One process answers with threads, and only one thread runs Python at a time (the GIL): with 8
clients on 2 cores that served 0.77 of the answers/s the cores could give; answering in two
processes, 0.95 (bench/perf/serve_load.py --processes). Each process loads the index and the
question encoder (memory x N) and swaps to a new generation by itself, as replicas do. The
server's own process keeps HTTP, MCP, the web page and /status, and hands each question to
the next free process, so a busy one never holds up a question another could answer.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..config import Config
from ..errors import KzqaError
from .service import Log, Service, stderr

_service: Service | None = None  # in each answering process: its live index
ORPHAN_POLL_SECONDS = 1.0  # how often an answering process checks the server still runs


def _open(cfg: Config) -> None:
    """Each answering process: open the index and watch for new generations. Ctrl-C reaches
    the whole process group; the server stops these processes itself."""
    global _service
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    _service = Service(cfg, log=_problems)
    _service.start_watching()


def _exit_with(parent: int) -> None:
    """End this process once the server's is gone: one killed (or stopped by SIGTERM, which
    uvicorn re-raises after its shutdown) never shuts its pool down."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_SECONDS)
    os._exit(0)


def _problems(message: str) -> None:
    """An answering process's log: what went wrong (the server's own process says when it
    reloaded, once rather than N + 1 times)."""
    if " reloaded the index " not in message:
        stderr(message)


def _ask(question: str, k: int, mode: str | None) -> dict[str, Any]:
    assert _service is not None
    return _service.ask(question, k, mode)


def _pid() -> int:
    return os.getpid()


class Answerers:
    """N processes that answer questions as Service.ask does; a process that dies is
    replaced (the question it held gets a 503, the next ones are answered)."""

    def __init__(self, cfg: Config, processes: int, log: Log) -> None:
        self.cfg = cfg
        self.processes = processes
        self.log = log
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server's process has threads (the reload watcher, ONNX
        # Runtime's), and a forked copy of a held lock never unlocks.
        pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_open,
            initargs=(self.cfg,),
        )
        # Submitted together, so every process starts now and has the index loaded before
        # the first question; an index that will not open fails here, not on a request.
        for ready in [pool.submit(_pid) for _ in range(self.processes)]:
            ready.result()
        return pool

    def ask(self, question: str, k: int, mode: str | None) -> dict[str, Any]:
        """Service.ask's JSON, from the next free process. When a process has died, they are
        all started again and the question asked once more (answering writes nothing)."""
        for _ in range(2):
            pool = self._pool
            try:
                return pool.submit(_ask, question, k, mode).result()
            except BrokenProcessPool:
                with self._lock:
                    if self._pool is pool:  # the first request to see it restarts them
                        self.log("kzqa serve: an answering process stopped; starting them again")
                        pool.shutdown(wait=False, cancel_futures=True)
                        self._pool = self._start()
        raise KzqaError(
            "an answering process stopped twice while answering this question",
            hint="the server's log may say why",
        )

    def pids(self) -> list[int]:
        """The answering processes' ids."""
        return sorted(self._pool._processes)  # the executor has no public accessor

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
