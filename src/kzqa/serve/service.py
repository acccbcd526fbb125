"""The live index behind `kzqa serve`: one searcher, swapped for a new generation when a
`kzqa index` commits one, without dropping or delaying a request."""

from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store
from ..config import Config
from ..corpus import inside, read_file
from ..errors import KzqaError, StoreError, UsageError
from ..files import Signature, signature
from ..kept import Kept
from ..records import AskResult, Document
from ..render import ask_json
from ..search import QuestionCache, Searcher

if TYPE_CHECKING:
    from .processes import Answerers

MAX_K = 100  # hits per answer: more would let one request hog the CPU (and the socket)
MAX_QUESTION_CHARS = 2_000  # far past the model's 256-token window, which truncates anyway
POLL_SECONDS = 0.5  # how often the watcher looks at manifest.json (one stat call)
# How often the watcher re-scans the corpus for /status (stat calls, one per file): requests
# read the last result instead of walking the corpus each.
STATUS_SECONDS = 5.0
RETRY_SECONDS = 5.0  # a new generation that would not open is tried again after this
# ONNX Runtime threads per request: requests overlap, so one thread each keeps the cores busy
# without every request's thread pool fighting for them (ONNX Runtime's default, a thread per
# core, measured the same on the busy bench machine).
ONNX_THREADS = 1
# numpy's BLAS threads per matrix product (process-wide). OpenBLAS splits one question's
# product with the vectors over every core and spins while it waits for them: with requests
# overlapping, a 10,000-passage search took 3-4x the CPU and up to 7x the time of one thread
# (bench/perf/answer_cpu.py).
BLAS_THREADS = 1

ANSWERS = 1024  # answers kept for questions asked again (Service.ask), each a few KB
Signatures = tuple[Signature | None, ...]  # files.signature of each cited file; None: gone
KeptAnswer = tuple[dict[str, Any], tuple[str, ...], Signatures]  # JSON, cited paths, signatures
Fresh = tuple[str, dict[str, Any], tuple[str, ...]]  # generation, JSON, cited paths
Log = Callable[[str], None]


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Service:
    """The live searcher, and the watcher that swaps in a new generation when one commits."""

    def __init__(
        self, cfg: Config, log: Log = stderr, poll: float = POLL_SECONDS, searching: bool = True
    ) -> None:
        """`searching` False: questions go to other processes (`kzqa serve --processes`), so
        this one opens only the manifest, neither the model nor the vectors."""
        import numpy  # noqa: F401  (loads OpenBLAS: threadpoolctl limits only what is loaded)
        from threadpoolctl import threadpool_limits

        threadpool_limits(BLAS_THREADS, user_api="blas")
        self.cfg = cfg
        self.log = log
        self.poll = poll
        self.searching = searching
        self.questions = QuestionCache()  # repeated questions skip the model
        self.answers: Kept[tuple[Any, ...], KeptAnswer] = Kept(ANSWERS)  # ... and the search
        self.searcher = self._open(None)
        self.reloads = 0
        self.started = time.time()
        self._seen = self._manifest_signature()
        self._failed_at = 0.0  # when a new generation last failed to open (0: it did not)
        self.status_every = STATUS_SECONDS
        self.retry_every = RETRY_SECONDS
        self._status: dict[str, Any] | None = None
        self._status_at = 0.0
        self._status_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # `kzqa serve --processes N`: the processes that answer questions (processes.py).
        self.answerers: Answerers | None = None

    @property
    def generation(self) -> str:
        return self.searcher.manifest.generation

    def _open(self, previous: Searcher | None) -> Searcher:
        """Open the live generation and load all of it, so no request pays for the loading
        (when not searching: its manifest only)."""
        generation = store.open_generation(self.cfg.index)
        if generation is None:
            raise StoreError(f"no index in {self.cfg.index}", hint="run `kzqa index`")
        if not self.searching:
            return Searcher(self.cfg, generation)  # its manifest; nothing else is loaded
        # The same model keeps its loaded session; Searcher checks the encoder fits the index.
        encoder = previous.encoder_for(generation) if previous is not None else None
        searcher = Searcher(
            self.cfg, generation, encoder, threads=ONNX_THREADS, questions=self.questions
        )
        searcher.preload()
        return searcher

    def _manifest_signature(self) -> Signature | None:
        return signature(self.cfg.index / store.MANIFEST)

    def check_reload(self) -> bool:
        """Swap in the generation manifest.json names, if it is new; True when swapped.

        A generation that fails to open (its files half copied by hand, a disk error) is
        tried again every RETRY_SECONDS until it opens or another one is committed; the old
        one answers meanwhile.
        """
        seen = self._manifest_signature()
        if seen == self._seen and not self._failed_at:
            return False
        if seen == self._seen and time.monotonic() - self._failed_at < self.retry_every:
            return False
        try:
            manifest = store.read_manifest(self.cfg.index)
            if manifest is None or manifest.generation == self.generation:
                self._seen, self._failed_at = seen, 0.0
                self._status_at = 0.0  # stat data moved (a no-op `kzqa index`): re-scan
                return False
            fresh = self._open(self.searcher)
        except KzqaError as exc:
            if not self._failed_at:
                self.log(f"kzqa serve: cannot open the new index, still serving the old: {exc}")
            self._seen, self._failed_at = seen, time.monotonic()
            return False
        old, self.searcher = self.generation, fresh  # one assignment: atomic for readers
        self._seen, self._failed_at = seen, 0.0
        self._status_at = 0.0
        self.reloads += 1
        self.log(f"kzqa serve: reloaded the index ({old} -> {self.generation})")
        return True

    def start_watching(self) -> None:
        """Start the reload watcher."""

        def loop() -> None:
            while not self._stop.wait(self.poll):
                try:
                    self.check_reload()
                    if time.monotonic() - self._status_at >= self.status_every:
                        self.refresh_status()
                except Exception:  # a bug here must not stop the server from answering
                    self.log("kzqa serve: reload failed:\n" + traceback.format_exc())

        self._threads.append(threading.Thread(target=loop, name="kzqa-reload", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop_watching(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def search(self, question: Any, k: Any, mode: Any) -> AskResult:
        """One question, answered by the searcher live when it arrives."""
        question, kk, mode = self._checked(question, k, mode)
        if self.answerers is not None:
            return self.answerers.search(question, kk, mode)
        searcher = self.searcher  # held for the whole request, even if a reload swaps it
        return searcher.search(question, kk, mode)

    def ask(self, question: Any, k: Any, mode: Any) -> dict[str, Any]:
        """What `kzqa ask --json` prints for the question. A question asked before of this
        generation is answered from the answers kept (ANSWERS), while every file it cites
        keeps the signature it had (files.signature): the same JSON, without the search."""
        question, kk, mode = self._checked(question, k, mode)
        asked = (" ".join(question.split()), kk, mode)
        kept = self.answers.get((self.generation, *asked))
        if kept is not None and kept[2] == self._signatures(kept[1]):
            return kept[0]
        fresh = self.answerers.answer if self.answerers is not None else self.answer
        generation, answer, paths = fresh(question, kk, mode)
        # Kept under the generation that answered: an answering process may not have
        # swapped yet when this one has, or the other way round.
        self.answers.put((generation, *asked), (answer, paths, self._signatures(paths)))
        return answer

    def answer(self, question: str, k: int, mode: str | None) -> Fresh:
        """A new answer to a checked question: the generation that answered, the JSON, and
        the files it cites."""
        searcher = self.searcher
        result = searcher.search(question, k, mode)
        paths = tuple(dict.fromkeys(hit.passage.path for hit in result.hits))
        return searcher.manifest.generation, ask_json(result, self.cfg.corpus), paths

    def _checked(self, question: Any, k: Any, mode: Any) -> tuple[str, int, str | None]:
        """The request's question, k and mode, checked; UsageError for what is wrong."""
        if not isinstance(question, str):
            raise UsageError("give the question as q (a string)")
        if len(question) > MAX_QUESTION_CHARS:
            raise UsageError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        kk = self.cfg.k if k is None or k == "" else _integer("k", k)
        if not 1 <= kk <= MAX_K:
            raise UsageError(f"k must be between 1 and {MAX_K}, got {kk}")
        if mode is not None and not isinstance(mode, str):
            raise UsageError("mode must be a string")
        return question, kk, mode or None

    def _signatures(self, paths: tuple[str, ...]) -> Signatures:
        """files.signature of each cited file (None: it is gone): an edit moves it even when
        the file's size and modification time are put back."""
        return tuple(signature(self.cfg.corpus / path) for path in paths)

    def document(self, path: str) -> tuple[Document, dict[str, Any]]:
        """An indexed file, read as the index read it (the text its offsets refer to), and
        what the manifest says of it. LookupError for a path the index does not hold."""
        meta = self.searcher.manifest.files.get(path)
        if meta is None or self.served(path) is None:
            raise LookupError(path)
        try:
            doc = read_file(self.cfg.corpus, path)
        except OSError:
            raise LookupError(path) from None
        if doc is None:
            raise LookupError(path)
        return doc, meta

    def served(self, path: str) -> Path | None:
        """The file behind an indexed path, if the index lists it and it still lies inside
        the corpus folder (a file replaced by a link elsewhere since the build is not)."""
        if path not in self.searcher.manifest.files:
            return None
        return inside(self.cfg.corpus, path)

    def refresh_status(self) -> dict[str, Any]:
        """Scan the corpus against the live manifest now (what `kzqa status --json` says)."""
        from ..ops.status import index_status

        info = index_status(self.cfg)
        with self._status_lock:
            self._status, self._status_at = info, time.monotonic()
        return info

    def status(self) -> dict[str, Any]:
        """The last status the watcher computed (at most STATUS_SECONDS old, or fresher after
        a reload), plus the server's own figures. Never walks the corpus itself once warm."""
        with self._status_lock:
            info = self._status
        if info is None:
            info = self.refresh_status()
        return {
            **info,
            "server": {
                "generation": self.generation,
                "reloads": self.reloads,
                "uptime_s": round(time.time() - self.started, 1),
                "status_age_s": round(time.monotonic() - self._status_at, 1),
            },
        }


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    raise UsageError(f"{name} must be an integer, got {value!r}")
