"""`kzqa index --watch`: re-index when the corpus changes, after it has been quiet a moment."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config import Config
from ..corpus import scan_corpus

POLL_SECONDS = 1.0
QUIET_SECONDS = 2.0  # debounce: wait until no file has changed for this long


def _snapshot(cfg: Config) -> frozenset[tuple[str, int, int]]:
    return frozenset(
        (e.path, e.size, e.mtime_ns) for e in scan_corpus(cfg.corpus, exclude=cfg.index).files
    )


def watch_corpus(
    cfg: Config, on_change: Callable[[], None], stop: Callable[[], bool] = lambda: False
) -> None:
    """Poll the corpus (stat only) and call on_change once per burst of edits."""
    last = _snapshot(cfg)
    pending_since: float | None = None
    while not stop():
        time.sleep(POLL_SECONDS)
        current = _snapshot(cfg)
        if current != last:
            last, pending_since = current, time.monotonic()
        elif pending_since is not None and time.monotonic() - pending_since >= QUIET_SECONDS:
            pending_since = None
            on_change()
