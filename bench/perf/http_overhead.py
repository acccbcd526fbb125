"""What the HTTP layer alone costs `kzqa serve`: GET /healthz back to back, per uvicorn protocol.

    .venv/bin/python bench/perf/http_overhead.py [--project bench/out/p10k] [--requests 3000]
        [--clients 1 8] [--rounds 3] [--compare OLD_CHECKOUT --old-project DIR]

/healthz does no retrieval, so its server CPU per request is the price of parsing the request,
routing it through Starlette and writing the response: the part of an answer that the
choice of HTTP parser (h11, pure Python; httptools, C) can change. Same launcher and
alternation as serve_load.py; one fresh server per cell.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import ROOT, Arm, run_pass, start_server, wait_ready  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT / "bench" / "out" / "p10k")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="an old checkout (e.g. a git worktree)")
    parser.add_argument("--old-project", type=Path, help="its project, already built")
    args = parser.parse_args()
    arms = [Arm(f"now {h}", args.project.resolve(), ROOT / "src", h) for h in ("h11", "httptools")]
    if args.compare and args.old_project:
        rev = subprocess.run(
            ["git", "-C", str(args.compare), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        arms.insert(0, Arm(rev, args.old_project.resolve(), args.compare.resolve() / "src"))
    results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    turn = 0
    for _ in range(args.rounds):
        for n in args.clients:
            order = arms[turn % len(arms) :] + arms[: turn % len(arms)]
            turn += 1
            for arm in order:
                proc, url, _ = start_server(arm)
                try:
                    wait_ready(url)
                    lat, wall, cpu, _ = run_pass(
                        url, ["-"] * args.requests, n, 0, proc.pid, path="/healthz"
                    )
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                lat.sort()
                results.setdefault((arm.name, n), []).append(
                    (1000 * statistics.median(lat), args.requests / wall, 1000 * cpu / len(lat))
                )
    print(f"GET /healthz, {args.requests} requests a cell, medians over {args.rounds} rounds")
    print("| clients | server | p50 ms | requests/s | server CPU ms/request |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n in args.clients:
        for arm in arms:
            rows = results[arm.name, n]
            p50, per_s, cpu = (statistics.median(col) for col in zip(*rows, strict=True))
            print(f"| {n} | {arm.name} | {p50:.2f} | {per_s:.0f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
