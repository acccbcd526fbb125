"""The live index behind `kzqa serve`: one searcher, swapped for a new generation when a
`kzqa index` commits one, without dropping or delaying a request."""

from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from .. import store
from ..config import Config
from ..errors import KzqaError, StoreError, UsageError
from ..render import ask_json
from ..search import Searcher

MAX_K = 100  # hits per answer: more would let one request hog the CPU (and the socket)
MAX_QUESTION_CHARS = 2_000  # far past the model's 256-token window, which truncates anyway
POLL_SECONDS = 0.5  # how often the watcher looks at manifest.json (one stat call)
# ONNX Runtime threads per request: requests overlap, so one thread each keeps the cores busy
# without every request's thread pool fighting for them (ONNX Runtime's default, a thread per
# core, measured the same on the busy bench machine).
ONNX_THREADS = 1

Log = Callable[[str], None]


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Service:
    """The live searcher, and the watcher that swaps in a new generation when one commits."""

    def __init__(self, cfg: Config, log: Log = stderr, poll: float = POLL_SECONDS) -> None:
        self.cfg = cfg
        self.log = log
        self.poll = poll
        self.searcher = self._open(None)
        self.reloads = 0
        self.started = time.time()
        self._seen = self._manifest_stamp()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def generation(self) -> str:
        return self.searcher.manifest.generation

    def _open(self, previous: Searcher | None) -> Searcher:
        """Open the live generation and load all of it, so no request pays for the loading."""
        generation = store.open_generation(self.cfg.index)
        if generation is None:
            raise StoreError(f"no index in {self.cfg.index}", hint="run `kzqa index`")
        encoder = None
        if previous is not None and (
            previous.manifest.model_fingerprint == generation.manifest.model_fingerprint
            and previous.manifest.onnx == generation.manifest.onnx
        ):
            encoder = previous.encoder  # same model: keep the loaded session
        # Searcher checks the encoder fits the index.
        searcher = Searcher(self.cfg, generation, encoder, threads=ONNX_THREADS)
        searcher.preload()
        return searcher

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.cfg.index / store.MANIFEST).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def check_reload(self) -> bool:
        """Swap in the generation manifest.json names, if it is new; True when swapped."""
        stamp = self._manifest_stamp()
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            manifest = store.read_manifest(self.cfg.index)
            if manifest is None or manifest.generation == self.generation:
                return False  # only stat data moved (a no-op `kzqa index`)
            fresh = self._open(self.searcher)
        except KzqaError as exc:
            self.log(f"kzqa serve: cannot open the new index, still serving the old: {exc}")
            return False
        old, self.searcher = self.generation, fresh  # one assignment: atomic for readers
        self.reloads += 1
        self.log(f"kzqa serve: reloaded the index ({old} -> {self.generation})")
        return True

    def start_watching(self) -> None:
        """Start the reload watcher."""

        def loop() -> None:
            while not self._stop.wait(self.poll):
                try:
                    self.check_reload()
                except Exception:  # a bug here must not stop the server from answering
                    self.log("kzqa serve: reload failed:\n" + traceback.format_exc())

        self._threads.append(threading.Thread(target=loop, name="kzqa-reload", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop_watching(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def ask(self, question: Any, k: Any, mode: Any) -> dict[str, Any]:
        """One question, answered by the searcher live when it arrives."""
        if not isinstance(question, str):
            raise UsageError("give the question as q (a string)")
        if len(question) > MAX_QUESTION_CHARS:
            raise UsageError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        kk = self.cfg.k if k is None else _integer("k", k)
        if not 1 <= kk <= MAX_K:
            raise UsageError(f"k must be between 1 and {MAX_K}, got {kk}")
        if mode is not None and not isinstance(mode, str):
            raise UsageError("mode must be a string")
        searcher = self.searcher  # held for the whole request, even if a reload swaps it
        return ask_json(searcher.search(question, kk, mode), self.cfg.corpus)

    def status(self) -> dict[str, Any]:
        from ..ops.status import index_status

        info = index_status(self.cfg)
        info["server"] = {
            "generation": self.generation,
            "reloads": self.reloads,
            "uptime_s": round(time.time() - self.started, 1),
        }
        return info


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    raise UsageError(f"{name} must be an integer, got {value!r}")
