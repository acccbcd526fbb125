"""Kept, the bounded map behind the server's caches: least recently used first out."""

from __future__ import annotations

import threading

from kzqa.kept import Kept


def test_the_least_recently_used_goes_first() -> None:
    kept: Kept[str, int] = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # "a" is now the most recent
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (1, None, 3, 2)


def test_threads_never_see_more_than_its_bound() -> None:
    kept: Kept[int, int] = Kept(50)

    def fill(start: int) -> None:
        for i in range(start, start + 1000):
            kept.put(i, i)
            kept.get(i - 1)

    threads = [threading.Thread(target=fill, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kept) == 50
