"""`kzqa serve`'s HTTP framing and limits, each checked with the raw bytes a client sends."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ask_json, serving
from kzqa import store
from kzqa.files import write_text_atomic
from kzqa.serve import Server
from test_server import QUESTION, call, get

pytestmark = pytest.mark.slow


def raw(address: tuple, data: bytes) -> tuple[int, dict]:
    """Send bytes as they are (the request closes the connection); the status and JSON body."""
    with socket.create_connection(address[:2], timeout=60) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return status, json.loads(body)


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, body = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, body = out + body[:n], body[n + 2 :]
    return out


def post(path: str, body: bytes, chunked: bool = False) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if chunked:
        half = len(body) // 2
        parts = [body[:half], body[half:]]
        framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + framed
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.fixture
def server(real_project: Path) -> Iterator[Server]:
    with serving() as srv:
        yield srv


def test_a_chunked_body_is_read_whole(server: Server) -> None:
    body = json.dumps({"q": QUESTION, "k": 2}).encode()
    assert raw(server.server_address, post("/ask", body, chunked=True)) == (
        200,
        ask_json(QUESTION, "-k", "2"),
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"q": "\\ud800 Luban?"}', "not valid Unicode"),
        (b'{"q": "Luban?", "mode": "\\udfff"}', "not valid Unicode"),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),  # inside the 64 KiB limit
        (b'{"q": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "nested too deeply"),
    ],
)
def test_bad_json_is_a_400_not_a_dropped_connection(server: Server, body: bytes, says: str) -> None:
    status, got = raw(server.server_address, post("/ask", body))
    assert status == 400 and says in got["error"]
    assert "POST /ask" in got["hint"]  # how a good request looks
    assert get(server, "/healthz")[0] == 200


def test_ipv6_loopback(real_project: Path) -> None:
    with serving(host="::1") as srv:
        assert srv.url.startswith("http://[::1]:")
        assert get(srv, "/ask", q=QUESTION, k=1) == (200, ask_json(QUESTION, "-k", "1"))


def test_the_host_check_holds_on_a_non_loopback_address_too(real_project: Path) -> None:
    with serving(host="0.0.0.0", allow_hosts=["kzqa.lan"]) as srv:
        address = ("127.0.0.1", srv.server_address[1])
        for host, status in [
            ("evil.example.com", 421),
            (f"evil.example.com:{address[1]}", 421),
            ("kzqa.lan", 200),
            (f"KZQA.lan:{address[1]}", 200),
            ("192.168.1.20:8765", 200),  # an address cannot be DNS-rebound
            ("localhost", 200),
        ]:
            request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            got, body = raw(address, request.encode())
            assert got == status, (host, body)
            if status == 421:
                assert "--allow-host" in body["hint"]


def test_work_beyond_the_pool_and_its_queue_gets_503_at_once(real_project: Path) -> None:
    with serving(workers=1, queue=1) as srv:
        entered, release = threading.Event(), threading.Event()
        real = srv.service.ask

        def slow(*args):
            entered.set()
            release.wait(30)
            return real(*args)

        srv.service.ask = slow  # type: ignore[method-assign]
        results: list[int] = []

        def ask() -> None:
            results.append(get(srv, "/ask", q=QUESTION)[0])

        running = threading.Thread(target=ask)
        running.start()
        assert entered.wait(30)  # the one worker is busy
        waiting = threading.Thread(target=ask)
        waiting.start()
        deadline = time.monotonic() + 10
        while srv.workers.waiting < 1:  # the queue's one place is taken
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        status, got = get(srv, "/ask", q=QUESTION)
        assert (status, got["error"]) == (503, "the server is busy")
        assert time.monotonic() - started < 5  # at once, not after the others
        release.set()
        for thread in (running, waiting):
            thread.join(60)
        assert results == [200, 200]


def test_status_is_served_from_a_cache_the_watcher_refreshes(
    server: Server, real_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kzqa.corpus.changes as changes

    get(server, "/status")  # warm
    scans: list[Path] = []
    real = changes.scan_corpus
    monkeypatch.setattr(changes, "scan_corpus", lambda *a, **k: scans.append(a[0]) or real(*a, **k))
    server.service.status_every = 3600  # the watcher does not re-scan on its own now
    for _ in range(20):
        assert get(server, "/status")[1]["up_to_date"] is True
    assert scans == []  # twenty requests, no walk of the corpus
    (real_project / "corpus" / "new.txt").write_text("Astana became the capital in 1997.\n")
    server.service.status_every = 0.1
    deadline = time.monotonic() + 10
    while get(server, "/status")[1]["up_to_date"]:
        assert time.monotonic() < deadline, "the status never saw the new file"
        time.sleep(0.05)
    assert get(server, "/status")[1]["changes"]["added"] == ["new.txt"]


def test_a_reload_that_fails_is_retried(server: Server, real_project: Path) -> None:
    """A new generation that cannot be opened yet (a file missing, say, while it is copied
    in): the old one keeps answering, and the server tries again until the new one opens."""
    import shutil

    server.service.retry_every = 0.2
    index = real_project / "index"
    manifest = store.read_manifest(index)
    assert manifest is not None
    before = manifest.generation
    later = before + "-later"
    shutil.copytree(index / before, index / later, ignore=shutil.ignore_patterns(store.BM25))
    manifest.generation = later
    write_text_atomic(index / store.MANIFEST, manifest.to_json())  # names it: unreadable yet
    deadline = time.monotonic() + 10
    while not any("cannot open the new index" in line for line in server.logged):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert get(server, "/healthz")[1]["generation"] == before
    assert get(server, "/ask", q=QUESTION)[0] == 200
    shutil.copytree(index / before / store.BM25, index / later / store.BM25)  # it arrives
    deadline = time.monotonic() + 10
    while get(server, "/healthz")[1]["generation"] != later:
        assert time.monotonic() < deadline, "the failed reload was never retried"
        time.sleep(0.05)
    assert get(server, "/ask", q=QUESTION) == (200, ask_json(QUESTION))


def test_head_gets_the_headers_of_get(server: Server) -> None:
    host, port = server.server_address[:2]
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("HEAD", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b""
    assert response.getheader("Content-Type", "").startswith("application/json")
    conn.close()
    assert call(server, "GET", "/healthz")[0] == 200
