"""`kzqa serve`: the JSON of `kzqa ask --json`, JSON errors, reloads without dropped requests."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ask_json, serving
from kzqa.cli import app
from kzqa.config import load_config
from kzqa.serve import Server, is_loopback

QUESTION = "How many Luban Workshops has Kazakhstan hosted?"
runner = CliRunner()


running = serving  # a real server in a thread (conftest.serving)


@pytest.fixture
def server(real_project: Path) -> Iterator[Server]:
    with running() as srv:
        yield srv


def call(
    srv: Server, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict]:
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json")
        return response.status, json.loads(raw)
    finally:
        conn.close()


def get(srv: Server, path: str, **params: object) -> tuple[int, dict]:
    return call(srv, "GET", path + ("?" + urllib.parse.urlencode(params) if params else ""))


@pytest.mark.slow
def test_ask_returns_the_json_of_kzqa_ask(server: Server) -> None:
    status, got = get(server, "/ask", q=QUESTION, k=3)
    assert status == 200
    # The server scores sentences with float32 copies of the stored float16 vectors; the
    # command line widens only the candidates' own: the same answers.
    assert server.service.searcher.generation.sentence_rows[0].dtype == np.float32
    assert got == ask_json(QUESTION, "-k", "3")
    assert "three Luban Workshops" in got["results"][0]["text"]
    status, posted = call(server, "POST", "/ask", json.dumps({"q": QUESTION, "k": 3}).encode())
    assert (status, posted) == (200, got)
    status, dense = get(server, "/ask", q=QUESTION, k=2, mode="dense")
    assert (status, dense) == (200, ask_json(QUESTION, "-k", "2", "--mode", "dense"))


@pytest.mark.slow
def test_an_answer_embeds_the_question_and_nothing_else(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = server.service.searcher.encoder
    embedded: list[str] = []
    real = encoder.embed_queries

    def counted(texts):
        embedded.extend(texts)
        return real(texts)

    monkeypatch.setattr(encoder, "embed_queries", counted)
    monkeypatch.setattr(encoder, "embed_passages", None)  # answer sentences are stored
    got = get(server, "/ask", q=QUESTION)
    assert embedded == [QUESTION]
    assert got == (200, ask_json(QUESTION))
    assert get(server, "/ask", q=QUESTION, k=2)[0] == 200
    assert embedded == [QUESTION]  # asked again: its vector is remembered, the model not run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("GET", "/ask?q=", None, 400, "empty"),
        ("GET", "/ask", None, 400, "give the question"),
        ("GET", "/ask?q=hi&k=0", None, 400, "k must be"),
        ("GET", "/ask?q=hi&k=abc", None, 400, "integer"),
        ("GET", "/ask?q=hi&k=--1", None, 400, "integer"),
        ("GET", "/ask?q=hi&k=%C2%B2", None, 400, "integer"),
        ("GET", "/ask?q=hi&k=100000", None, 400, "k must be"),
        ("GET", "/ask?q=hi&mode=magic", None, 400, "unknown mode"),
        ("GET", "/ask?q=a&q=b", None, 400, "more than once"),
        ("GET", "/ask?q=" + "x" * 3000, None, 400, "longer than"),
        ("POST", "/ask", b"not json", 400, "not JSON"),
        ("POST", "/ask", b"[1, 2]", 400, "JSON object"),
        ("POST", "/ask", b'{"k": 3}', 400, "give the question"),
        ("POST", "/ask", b'{"q": 42}', 400, "string"),
        ("POST", "/ask", b'{"q": "hi", "k": true}', 400, "integer"),
        ("POST", "/ask", b'{"q": "hi", "extra": 1}', 400, "unknown field"),
        ("POST", "/ask", b"\xff\xfe", 400, "not JSON"),
        ("POST", "/ask", b"x" * 70_000, 413, "over"),
        ("GET", "/nowhere", None, 404, "no such path"),
        ("POST", "/status", b"{}", 405, "takes GET or HEAD"),
        ("DELETE", "/ask", None, 405, "takes GET, HEAD or POST"),
        ("PATCH", "/ask", None, 405, "takes GET, HEAD or POST"),
    ],
)
def test_bad_requests_get_a_4xx_json_error(
    server: Server, method: str, path: str, body: bytes | None, status: int, says: str
) -> None:
    got_status, got = call(server, method, path, body)
    assert got_status == status
    assert says in got["error"]
    assert got.get("hint") or status in (404, 405)  # what to do instead, for a request error
    assert "Traceback" not in json.dumps(got)
    assert not any("internal error" in line for line in server.logged)  # type: ignore[attr-defined]
    assert get(server, "/healthz")[0] == 200  # and the server still answers


@pytest.mark.slow
def test_healthz_and_status(server: Server) -> None:
    status, health = get(server, "/healthz")
    assert status == 200 and health["ok"] is True
    assert health["generation"].startswith("gen-")
    status, info = get(server, "/status")
    assert status == 200
    assert info["passages"] > 0 and info["up_to_date"] is True
    assert info["server"]["generation"] == health["generation"]


@pytest.mark.slow
def test_reindex_is_picked_up_without_dropping_requests(server: Server, real_project: Path) -> None:
    from kzqa.build import build_index

    before = get(server, "/healthz")[1]["generation"]
    encoder = server.service.searcher.encoder
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set() and len(statuses) < 500:
            statuses.append(get(server, "/ask", q=QUESTION, k=1)[0])

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        article = next((real_project / "corpus").iterdir())
        with article.open("a", encoding="utf-8") as fh:
            fh.write("\nThe oldest camel in Almaty is called Zhuldyz and is forty years old.\n")
        build_index(load_config(None))
        deadline = time.monotonic() + 30
        while get(server, "/healthz")[1]["generation"] == before:
            assert time.monotonic() < deadline, "the server never picked up the new index"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert statuses and set(statuses) == {200}
    status, got = get(server, "/ask", q="What is the oldest camel in Almaty called?", k=1)
    assert status == 200 and "Zhuldyz" in got["results"][0]["text"]
    assert server.service.reloads == 1
    assert get(server, "/status")[1]["server"]["reloads"] == 1
    assert server.service.searcher.encoder is encoder  # the same model: its session is kept


def test_a_rebound_host_name_is_refused(server: Server) -> None:
    status, got = call(server, "GET", "/ask?q=hi", headers={"Host": "evil.example.com"})
    assert status == 421 and "Host" in got["error"]
    host, port = server.server_address[:2]
    for name in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]"):
        assert call(server, "GET", "/healthz", headers={"Host": name})[0] == 200


def test_serve_without_an_index_exits_with_the_index_code(project: Path) -> None:
    result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 5
    assert "no index" in result.stderr and "kzqa index" in result.stderr


@pytest.mark.slow
def test_kzqa_serve_listens_on_loopback_unless_told_otherwise(real_project: Path) -> None:
    """The real command, as a user starts it: it says where it listens, and answers there."""
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "kzqa", "serve", "--port", "0"],
        cwd=real_project,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"answering on http://([^:/]+):(\d+)/ask", line)
        assert found, line
        assert is_loopback(found[1]) and found[1] == "127.0.0.1"
        conn = http.client.HTTPConnection(found[1], int(found[2]), timeout=60)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


@pytest.mark.slow
def test_concurrent_requests_get_the_answers_sequential_ones_get(server: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    questions = [
        QUESTION,
        "Who is the ambassador of Kazakhstan to China?",
        "Where was the Study in Kazakhstan education fair held?",
        "What did Kazakhstan declare 2025 to be?",
    ]
    sequential = {q: get(server, "/ask", q=q, k=3) for q in questions}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: get(server, "/ask", q=q, k=3), questions * 4))
    assert together == [sequential[q] for q in questions * 4]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/nope", "/status"])
def test_an_error_reply_never_leaves_a_body_for_the_next_request(server: Server, path: str) -> None:
    """A request whose body the server does not want: the body is skipped by its length,
    never parsed as the next request on the connection."""
    import socket

    smuggled = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(smuggled)}\r\n\r\n"
    follow = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(head.encode() + smuggled + follow)
        received = b""
        while chunk := sock.recv(65536):  # the server closes after the follow-up's reply
            received += chunk
    replies = received.split(b"HTTP/1.1 ")[1:]
    assert len(replies) == 2, received  # the error, then the real follow-up: nothing between
    assert replies[0].startswith((b"404", b"405")) and replies[1].startswith(b"200")


@pytest.mark.slow
def test_a_question_asked_again_is_answered_from_the_kept_answer_while_its_files_hold(
    real_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kzqa.search import Searcher
    from kzqa.serve.service import Service

    service = Service(load_config(None), log=lambda _: None)
    first = service.ask(QUESTION, 3, None)

    def refuse(*args, **kwargs):
        raise AssertionError("searched again")

    with monkeypatch.context() as patched:
        patched.setattr(Searcher, "search", refuse)
        assert service.ask("  " + QUESTION.replace(" ", "  "), "3", None) == first  # kept
        with pytest.raises(AssertionError):
            service.ask(QUESTION, 4, None)  # another k is another answer
    article = next((real_project / "corpus").iterdir())
    article.write_text(article.read_text().replace("three Luban", "four Luban"))
    again = service.ask(QUESTION, 3, None)  # a cited file moved: searched again
    assert again["results"][0]["citation"]["verified"] is False
    assert first["results"][0]["citation"]["verified"] is True
