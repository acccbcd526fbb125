"""Latency of `kzqa serve` under concurrent clients, on loopback; old and new side by side.

    .venv/bin/python bench/perf/serve_load.py [--project bench/out/p10k] [--clients 1 8]
        [--questions 599] [--k 5] [--rounds 1] [--http h11 httptools] [--processes 2]
        [--compare OLD_CHECKOUT [--old-project DIR]] [--json OUT]
    .venv/bin/python bench/perf/serve_load.py --merge OUT [OUT …]   # one summary of several runs

Each measurement ("cell") starts a fresh `kzqa serve --port 0` in a project folder (a separate
process), waits until it is ready, sends one untimed request that loads everything, then N
client threads, each on its own keep-alive connection, send GET /ask?q=…&k=… for real
questions (COVID-QA and SciFact queries, the corpora bench/perf/corpus10k.py indexes) as fast
as answers come back. Two passes: "new" (questions the server has not heard) and "repeat"
(the same again: the server's question-vector cache, search.searcher.QuestionCache, skips the
model for them). Then the server is stopped, so every cell starts from the same state.

Servers ("arms"), all run by this interpreter:
  --http NAME …      the current code (src/ here), once per uvicorn protocol named (h11,
                     httptools): uvicorn.Config's `http=` is overridden at start-up, so the
                     choice in src/kzqa/serve/app.py does not matter. Without it: as configured.
  --compare DIR      also the code checked out in DIR (e.g. a `git worktree` of d579483), run
                     with PYTHONPATH=DIR/src on its own project, --old-project (default:
                     bench/out/p10k-REV). An old kzqa reads an older index format, so that
                     project is the same corpus files (hard links) indexed by the old code; it is
                     built on first use (minutes).
  --processes N …    also the current code as `kzqa serve --processes N`, once per N > 1.
A server's CPU and memory include its answering processes (--processes). Every round
measures every arm at every client count; the arms' order rotates from one cell to the next,
so machine noise hits them alike. A cell during which other processes took more
than --noisy cores of CPU (from /proc/stat, less the server's and this process's own) is
measured again, at most --retries times. The summary gives, per client count and pass, each
arm's median over rounds of p50, p99, answers/s, and "of the cores": answers/s x CPU per
answer / cores, the share of the machine's cores the server turned into answers (issue 13
asks 0.9 at 8 clients); and ratios against the first arm taken within each round (then
their median). Bounded: --max-minutes stops starting new rounds.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository
QUERIES = [
    ROOT.parent / "shared" / "eval" / "covidqa" / "queries.jsonl",
    ROOT.parent / "shared" / "eval" / "scifact" / "queries.jsonl",
]
HZ = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
# Started as `python -c LAUNCH HTTP kzqa-args…`: names the code it runs, forces uvicorn's HTTP
# protocol when HTTP is not "-", then runs the CLI as the `kzqa` script would.
LAUNCH = """
import sys
choice = sys.argv.pop(1)
if choice != "-":
    import uvicorn
    init = uvicorn.Config.__init__
    def forced(self, *args, **kwargs):
        kwargs["http"] = choice
        init(self, *args, **kwargs)
    uvicorn.Config.__init__ = forced
import kzqa
print("serve_load: code " + kzqa.__file__ + " http " + choice, file=sys.stderr, flush=True)
from kzqa.cli import main
sys.argv[0] = "kzqa"
main()
"""


@dataclass
class Arm:
    name: str
    project: Path
    pythonpath: Path
    http: str = "-"  # "-": whatever the code's uvicorn.Config says (or no uvicorn at all)
    options: tuple[str, ...] = ()  # more `kzqa serve` options (--processes N)


@dataclass
class Pass:
    requests: int
    p50: float
    p90: float
    p99: float
    max: float
    per_s: float
    cpu_ms: float  # server CPU per answer
    foreign: float  # cores other processes used meanwhile


@dataclass
class Cell:
    round: int
    arm: str
    clients: int
    start_s: float  # process start to listening
    rss_mb: float
    protocol: str
    load1: float
    passes: dict[str, Pass] = field(default_factory=dict)
    retried: int = 0


def load_questions(n: int) -> list[str]:
    rows = []
    for path in QUERIES:
        with path.open(encoding="utf-8") as fh:
            rows.append([json.loads(line)["text"] for line in fh])
    # Alternate the two sets so every client asks about both halves of the corpus.
    mixed = [q for pair in zip(*rows, strict=False) for q in pair]
    return list(dict.fromkeys(mixed))[:n]


def start_server(arm: Arm) -> tuple[subprocess.Popen[str], str, float]:
    env = {**os.environ, "PYTHONPATH": str(arm.pythonpath)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, arm.http, "serve", "--port", "0", *arm.options],
        cwd=arm.project,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    code = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("serve_load: code "):
            code = line.split()[2]
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if found:
            if code is None or not code.startswith(str(arm.pythonpath)):
                proc.kill()
                raise SystemExit(f"{arm.name}: ran kzqa from {code}, not {arm.pythonpath}")
            # Keep reading its stderr (warnings, reloads) so a full pipe never blocks it.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, found.group(1), time.perf_counter() - started
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"{arm.name}: kzqa serve did not start")


def tree(pid: int) -> list[int]:
    """A process and all its descendants (a server's answering processes, --processes)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += tree(int(child))
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (pages they share counted in each)."""
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_ticks(pid: int | str) -> int:
    """utime + stime of a process (all its threads) and, for a server, of its descendants,
    in clock ticks."""
    members = [pid] if pid == "self" else tree(int(pid))
    total = 0
    for member in members:
        stat = Path(f"/proc/{member}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total


def busy_ticks() -> int:
    """user + nice + system ticks of the whole machine."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def protocol(pid: int) -> str:
    """Which HTTP parser the server process has loaded (httptools is a C extension)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "httptools" if "httptools" in maps else "pure Python"


def run_pass(
    url: str, questions: list[str], clients: int, k: int, server_pid: int, path: str = "/ask"
) -> tuple[list[float], float, float, float]:
    """Latencies (s), wall seconds, server CPU seconds and other processes' CPU seconds.

    Each question is asked as GET /ask?q=…&k=…; with another path, that path is requested
    once per item of `questions` instead (bench/perf/http_overhead.py)."""
    parts = urllib.parse.urlsplit(url)
    ask = path == "/ask"
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(mine: list[str]) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        for q in mine:
            target = "/ask?" + urllib.parse.urlencode({"q": q, "k": k}) if ask else path
            t = time.perf_counter()
            conn.request("GET", target)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if response.status != 200 or (ask and not json.loads(body)["results"]):
                    errors.append(f"{response.status} {q}")
        conn.close()

    threads = [
        threading.Thread(target=client, args=(questions[i::clients],)) for i in range(clients)
    ]
    busy0, server0, own0 = busy_ticks(), cpu_ticks(server_pid), cpu_ticks("self")
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    server = cpu_ticks(server_pid) - server0
    foreign = busy_ticks() - busy0 - server - (cpu_ticks("self") - own0)
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return latencies, wall, server / HZ, max(foreign, 0) / HZ


def wait_ready(url: str) -> dict[str, Any]:
    """/status once the server answers it and the old server's warm-up (if any) is done."""
    deadline = time.monotonic() + 300
    while True:
        with urllib.request.urlopen(url + "/status", timeout=60) as fh:
            info = json.load(fh)
        if info.get("warm_up") != "running" or time.monotonic() > deadline:
            return info
        time.sleep(0.5)


def measure(
    arm: Arm, clients: int, questions: list[str], k: int, round_no: int, quiet: bool
) -> Cell:
    proc, url, start_s = start_server(arm)
    try:
        info = wait_ready(url)
        run_pass(url, ["What is this about?"], 1, k, proc.pid)  # load everything; not counted
        cell = Cell(
            round_no,
            arm.name,
            clients,
            start_s,
            0.0,
            protocol(proc.pid),
            os.getloadavg()[0],
        )
        for name in ("new", "repeat"):
            lat, wall, server_cpu, foreign = run_pass(url, questions, clients, k, proc.pid)
            ms = sorted(1000 * x for x in lat)
            cell.passes[name] = Pass(
                len(ms),
                statistics.median(ms),
                ms[int(0.9 * (len(ms) - 1))],
                ms[int(0.99 * (len(ms) - 1))],
                ms[-1],
                len(ms) / wall,
                1000 * server_cpu / len(ms),
                foreign / wall,
            )
        cell.rss_mb = rss_mb(proc.pid)
        if not quiet:
            print(
                f"server: {arm.name} {url}, {info['passages']} passages, "
                f"index {info['index_type']['kind']}, {clients} clients, "
                f"{len(questions)} questions, k={k}, protocol {cell.protocol}"
            )
        return cell
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def print_cell(cell: Cell) -> None:
    for name, p in cell.passes.items():
        print(
            f"{cell.round:>5} {cell.arm:18} {cell.clients:7d} {name:7} {p.requests:8d} "
            f"{p.p50:7.1f} {p.p90:7.1f} {p.p99:7.1f} {p.max:7.1f} {p.per_s:7.1f} "
            f"{p.cpu_ms:7.2f} {p.foreign:7.2f} {cell.load1:5.2f} {cell.rss_mb:6.0f}",
            flush=True,
        )


def old_project(checkout: Path, project: Path, folder: Path | None) -> Path:
    """The same corpus indexed by the old code in `checkout` (built when missing)."""
    rev = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = folder or ROOT / "bench" / "out" / f"{project.name}-{rev}"
    if (folder / "index" / "manifest.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "corpus").is_dir():  # hard links keep the files' bytes and mtimes
        shutil.copytree(project / "corpus", folder / "corpus", copy_function=os.link)
    print(f"building {folder} with the code in {checkout} (minutes)", flush=True)
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    subprocess.run(
        ["nice", "-n", "10", sys.executable, "-m", "kzqa", "index"], cwd=folder, env=env, check=True
    )
    return folder


def summarize(cells: list[Cell], arms: list[str], clients: list[int]) -> None:
    by = {(c.round, c.arm, c.clients): c for c in cells}
    rounds = sorted({c.round for c in cells})

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def ratios(arm: str, base: str, n: int, name: str, attr: str) -> float:
        """Median over rounds of arm's figure over base's, both taken in the same round."""
        return med(
            [
                getattr(by[r, arm, n].passes[name], attr)
                / getattr(by[r, base, n].passes[name], attr)
                for r in rounds
                if (r, arm, n) in by and (r, base, n) in by
            ]
        )

    base = arms[0]
    print(f"\nmedians over {len(rounds)} round(s); ratios against {base}, taken within a round")
    print(
        "| clients | pass | server | p50 ms | p99 ms | answers/s | server CPU ms/answer "
        f"| of the cores | p50 × {base} | p99 × {base} | answers/s × {base} |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in clients:
        for name in ("new", "repeat"):
            for arm in arms:
                got = [by[r, arm, n].passes[name] for r in rounds if (r, arm, n) in by]
                print(
                    f"| {n} | {name} | {arm} | {med([p.p50 for p in got]):.1f} "
                    f"| {med([p.p99 for p in got]):.1f} | {med([p.per_s for p in got]):.0f} "
                    f"| {med([p.cpu_ms for p in got]):.2f} "
                    f"| {med([p.per_s * p.cpu_ms / 1000 / CORES for p in got]):.2f} "
                    f"| {ratios(arm, base, n, name, 'p50'):.2f} "
                    f"| {ratios(arm, base, n, name, 'p99'):.2f} "
                    f"| {ratios(arm, base, n, name, 'per_s'):.2f} |"
                )
    if "now h11" in arms and "now httptools" in arms:
        print("\nhttptools against h11 (the current code), ratios taken within a round")
        print("| clients | pass | p50 × h11 | p99 × h11 | answers/s × h11 |")
        print("| ---: | --- | ---: | ---: | ---: |")
        for n in clients:
            for name in ("new", "repeat"):
                print(
                    f"| {n} | {name} "
                    + " ".join(
                        f"| {ratios('now httptools', 'now h11', n, name, attr):.2f}"
                        for attr in ("p50", "p99", "per_s")
                    )
                    + " |"
                )


def load_cells(paths: list[Path]) -> list[Cell]:
    """Cells written by --json, one run after another (rounds numbered on)."""
    cells: list[Cell] = []
    for path in paths:
        offset = max((c.round for c in cells), default=0)
        for row in json.loads(path.read_text()):
            passes = {k: Pass(**v) for k, v in row.pop("passes").items()}
            row["round"] += offset
            cells.append(Cell(**row, passes=passes))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT / "bench" / "out" / "p10k")
    parser.add_argument("--clients", type=int, nargs="+", default=[8])
    parser.add_argument("--questions", type=int, default=599)  # all there are
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--http", nargs="+", choices=["h11", "httptools"], default=None)
    parser.add_argument(
        "--processes", type=int, nargs="+", help="also the current code with --processes N"
    )
    parser.add_argument("--compare", type=Path, help="an old checkout (e.g. a git worktree)")
    parser.add_argument("--old-project", type=Path, help="its project (built when missing)")
    parser.add_argument("--noisy", type=float, default=0.3, help="other processes' cores")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=45)
    parser.add_argument("--json", type=Path, help="write every cell here")
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="only summarize the cells of earlier --json runs"
    )
    args = parser.parse_args()
    if args.merge:
        cells = load_cells(args.merge)
        names = list(dict.fromkeys(c.arm for c in cells))
        print(f"{len(cells)} cells from {', '.join(str(p) for p in args.merge)}")
        summarize(cells, names, sorted({c.clients for c in cells}))
        return
    questions = load_questions(args.questions)
    project = args.project.resolve()
    arms: list[Arm] = []
    if args.compare:
        checkout = args.compare.resolve()
        rev = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        folder = old_project(checkout, project, args.old_project)
        arms.append(Arm(rev, folder, checkout / "src"))
    for choice in args.http or ["-"]:
        arms.append(Arm("now" if choice == "-" else f"now {choice}", project, ROOT / "src", choice))
    for n in args.processes or []:
        if n > 1:
            options = ("--processes", str(n))
            arms.append(Arm(f"now --processes {n}", project, ROOT / "src", options=options))
    print(
        f"{len(arms)} servers: "
        + "; ".join(f"{a.name} ({a.pythonpath}, {a.project})" for a in arms)
        + f"; clients {args.clients}; {len(questions)} questions; {args.rounds} round(s)"
    )
    print(
        f"{'round':>5} {'server':18} {'clients':>7} {'pass':7} {'requests':>8} {'p50 ms':>7} "
        f"{'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'ans/s':>7} {'cpu ms':>7} "
        f"{'other':>7} {'load1':>5} {'RSS MB':>6}"
    )
    stop_at = time.monotonic() + 60 * args.max_minutes
    cells: list[Cell] = []
    turn = 0
    for round_no in range(1, args.rounds + 1):
        if time.monotonic() > stop_at:
            print(f"--max-minutes reached: stopping before round {round_no}")
            break
        for n in args.clients:
            order = arms[turn % len(arms) :] + arms[: turn % len(arms)]
            turn += 1
            for arm in order:
                for attempt in range(args.retries + 1):
                    cell = measure(arm, n, questions, args.k, round_no, quiet=True)
                    cell.retried = attempt
                    noisy = max(p.foreign for p in cell.passes.values()) > args.noisy
                    if noisy and attempt < args.retries:
                        print(f"  (disturbed: {arm.name}, {n} clients, measured again)")
                        continue
                    break
                cells.append(cell)
                print_cell(cell)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                [
                    {**c.__dict__, "passes": {k: v.__dict__ for k, v in c.passes.items()}}
                    for c in cells
                ],
                indent=1,
            )
        )
    summarize(cells, [a.name for a in arms], args.clients)


if __name__ == "__main__":
    main()
