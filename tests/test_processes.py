"""`kzqa serve --processes 2`: questions answered in two processes, which swap to a new
generation, are replaced one by one when they die, and end with the server (issue 13)."""

from __future__ import annotations

import os
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ask_json, kzqa_serve, serving
from test_replicas import QUESTION, asked_meanwhile, get, index_new_fact

pytestmark = pytest.mark.slow


def answering(server: int) -> list[int]:
    """The server's answering processes (its spawned children; not the resource tracker)."""
    found = []
    for task in Path(f"/proc/{server}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline and running(int(child)):
                found.append(int(child))
    return sorted(found)


def running(pid: int) -> bool:
    """Alive: not gone and not a zombie (dead, not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def gone(pids: list[int], seconds: float = 10) -> bool:
    return until(lambda: not any(running(pid) for pid in pids), seconds)


def until(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_two_processes_answer_like_kzqa_ask_and_swap_to_a_new_generation(
    real_project: Path,
) -> None:
    with kzqa_serve(real_project, "--processes", "2") as (url, server):
        assert len(answering(server.pid)) == 2
        assert (200, ask_json(QUESTION, "-k", "3")) == get(url, "/ask", q=QUESTION, k=3)
        page = urllib.request.urlopen(url + "/?" + urllib.parse.urlencode({"q": QUESTION}))
        assert "three Luban Workshops" in page.read().decode("utf-8")  # the web page's search

        with asked_meanwhile([url] * 4):  # four clients while the index is rebuilt
            index_new_fact(real_project)

        teams = "How many teams took part in the robotics olympiad?"

        def all_new() -> bool:  # eight at once: both processes answer some of them
            with ThreadPoolExecutor(8) as pool:
                got = list(pool.map(lambda _: get(url, "/ask", q=teams, k=1), range(8)))
            return all(s == 200 and "412 teams" in b["results"][0]["text"] for s, b in got)

        assert until(all_new), "an answering process still answers from the old generation"
        assert all(all_new() for _ in range(3))


def test_a_killed_answering_process_is_replaced_without_a_failed_request(
    real_project: Path,
) -> None:
    with kzqa_serve(real_project, "--processes", "2") as (url, server):
        before = answering(server.pid)
        os.kill(before[0], signal.SIGKILL)
        assert gone(before[:1])
        for _ in range(4):
            status, body = get(url, "/ask", q=QUESTION, k=1)
            assert status == 200 and "three Luban Workshops" in body["results"][0]["text"]
        after = answering(server.pid)
        assert len(after) == 2 and before[0] not in after and before[1] in after


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_answering_processes_end_with_the_server(real_project: Path, how: int) -> None:
    with kzqa_serve(real_project, "--processes", "2") as (url, server):
        assert get(url, "/healthz")[0] == 200
        children = answering(server.pid)
        assert len(children) == 2
        server.send_signal(how)
        server.wait(timeout=30)
        assert gone(children), f"still running after the server's {how.name}: {children}"


def test_every_question_is_answered_by_the_answering_processes(
    real_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API, the web page and MCP's ask all reach the processes, none the server's own
    searcher: here it fails if anything calls it."""
    with serving(processes=2) as srv:

        def not_here(*args: object) -> None:
            raise AssertionError("searched in the server's own process")

        monkeypatch.setattr(srv.service.searcher, "search", not_here)
        status, body = get(srv.url, "/ask", q=QUESTION, k=1)
        assert status == 200 and "three Luban Workshops" in body["results"][0]["text"]
        page = urllib.request.urlopen(srv.url + "/?" + urllib.parse.urlencode({"q": QUESTION}))
        assert "three Luban Workshops" in page.read().decode("utf-8")
