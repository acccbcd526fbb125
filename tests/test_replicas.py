"""Replicas: several `kzqa serve` processes on one index folder answer at once, and each swaps
to the generation a `kzqa index` commits, with no request failing (issue 13)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from conftest import KZQA, kzqa_serve

pytestmark = pytest.mark.slow

QUESTION = "How many Luban Workshops has Kazakhstan hosted?"
NEW_FACT = "The Astana robotics olympiad drew 412 teams from nine countries in 2025."


def get(url: str, path: str, **params: object) -> tuple[int, dict]:
    query = "?" + urllib.parse.urlencode(params) if params else ""
    try:
        with urllib.request.urlopen(url + path + query, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@contextmanager
def asked_meanwhile(urls: list[str]) -> Iterator[list[int]]:
    """Each URL asked QUESTION back to back, one thread each, until the block ends; not one
    request may fail. Yields how many each has answered."""
    failures: list[str] = []
    answered = [0] * len(urls)
    stop = threading.Event()

    def ask_again(n: int) -> None:
        while not stop.is_set():
            status, body = get(urls[n], "/ask", q=QUESTION, k=3)
            if status != 200 or not body["results"]:
                failures.append(f"{urls[n]}: {status} {body}")
            answered[n] += 1

    askers = [threading.Thread(target=ask_again, args=(n,)) for n in range(len(urls))]
    for thread in askers:
        thread.start()
    try:
        yield answered
    finally:
        stop.set()
        for thread in askers:
            thread.join()
    assert not failures, failures[:3]


def index_new_fact(project: Path) -> None:
    """Add a document holding NEW_FACT and run `kzqa index` in another process."""
    (project / "corpus" / "olympiad.txt").write_text(NEW_FACT + "\n")
    build = subprocess.run(
        [*KZQA, "index"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert build.returncode == 0, build.stderr


def test_two_replicas_swap_to_the_new_generation_without_a_failed_request(
    real_project: Path,
) -> None:
    with ExitStack() as stack:
        urls = [stack.enter_context(kzqa_serve(real_project))[0] for _ in range(2)]
        before = {get(url, "/healthz")[1]["generation"] for url in urls}
        assert len(before) == 1
        for url in urls:
            status, body = get(url, "/ask", q=QUESTION, k=3)
            assert status == 200 and "three Luban Workshops" in body["results"][0]["text"]

        with asked_meanwhile(urls) as answered:
            index_new_fact(real_project)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                now = {get(url, "/healthz")[1]["generation"] for url in urls}
                if not now & before:
                    break
                time.sleep(0.1)
        assert min(answered) > 0
        assert len(now) == 1 and not now & before, (before, now)  # both on the one new generation
        for url in urls:
            status, body = get(url, "/ask", q="How many teams took part in the robotics olympiad?")
            assert status == 200 and "412 teams" in body["results"][0]["answer"]["text"]
