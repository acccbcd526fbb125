"""Latency of `kzqa serve` under concurrent clients, on loopback.

    .venv/bin/python bench/serve_load.py [--project bench/out/p10k] [--clients 8]
        [--questions 400] [--k 5]

Starts `kzqa serve --port 0` in the project folder (a separate process), then N client threads,
each on its own keep-alive connection, send GET /ask?q=…&k=… for real questions (COVID-QA and
SciFact queries, the corpora bench/perf/corpus10k.py indexes) as fast as answers come back.

Two passes, after one untimed request that loads everything: "new" (questions the server has
not seen) and "repeat" (the same questions again; the server keeps no answer or question
cache, so the difference is what the operating system and the CPU caches give). Prints
p50/p90/p99 per request, throughput and the server's RSS.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
QUERIES = [
    Path("/work/shared/eval/covidqa/queries.jsonl"),
    Path("/work/shared/eval/scifact/queries.jsonl"),
]


def load_questions(n: int) -> list[str]:
    rows = []
    for path in QUERIES:
        with path.open(encoding="utf-8") as fh:
            rows.append([json.loads(line)["text"] for line in fh])
    # Alternate the two sets so every client asks about both halves of the corpus.
    mixed = [q for pair in zip(*rows, strict=False) for q in pair]
    return list(dict.fromkeys(mixed))[:n]


def start_server(project: Path) -> tuple[subprocess.Popen[str], str]:
    kzqa = Path(sys.executable).parent / "kzqa"
    proc = subprocess.Popen(
        [str(kzqa), "serve", "--port", "0"],
        cwd=project,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if found:
            # Keep reading its stderr (warnings, reloads) so a full pipe never blocks it.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, found.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("kzqa serve did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_pass(url: str, questions: list[str], clients: int, k: int) -> tuple[list[float], float]:
    parts = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(mine: list[str]) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        for q in mine:
            path = "/ask?" + urllib.parse.urlencode({"q": q, "k": k})
            t = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if response.status != 200 or not json.loads(body)["results"]:
                    errors.append(f"{response.status} {q}")
        conn.close()

    threads = [
        threading.Thread(target=client, args=(questions[i::clients],)) for i in range(clients)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return latencies, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT / "bench" / "out" / "p10k")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--questions", type=int, default=800)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    questions = load_questions(args.questions)
    proc, url = start_server(args.project)
    try:
        with urllib.request.urlopen(url + "/status", timeout=60) as fh:
            info = json.load(fh)
        print(
            f"server: {url}, {info['passages']} passages, index {info['index_type']['kind']}, "
            f"{args.clients} clients, {len(questions)} questions, k={args.k}"
        )
        run_pass(url, ["What is this about?"], 1, args.k)  # load everything once; not counted
        print(
            f"{'pass':14} {'requests':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
            f"{'max ms':>7} {'req/s':>6} {'server RSS MB':>13}"
        )
        for name in ("new", "repeat"):
            lat, wall = run_pass(url, questions, args.clients, args.k)
            lat.sort()
            ms = [1000 * x for x in lat]
            print(
                f"{name:14} {len(ms):8d} {statistics.median(ms):7.1f} "
                f"{ms[int(0.9 * (len(ms) - 1))]:7.1f} {ms[int(0.99 * (len(ms) - 1))]:7.1f} "
                f"{ms[-1]:7.1f} {len(ms) / wall:6.1f} {rss_mb(proc.pid):13.0f}",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
