"""Cold `kzqa ask` against `python -c "import sentence_transformers"`, side by side.

    .venv/bin/python bench/perf/cold_ask.py [--rounds 7] [--project bench/out/article]
        [--question Q] [--compare OLD_CHECKOUT]
    .venv/bin/python bench/perf/cold_ask.py --project bench/out/article-e5 \
        --config bench/configs/multilingual.yaml

Each round runs, in fresh processes and in alternating order, `kzqa ask --no-update --json Q`
on the project's built index and `python -c "import sentence_transformers"` (what embedding a
question with the reference model would cost before any work). Prints medians and the ratio.
The default project is a copy of corpus/ (the article), indexed on first use; --config is
copied into it as its kzqa.yaml (e.g. another model) when it has none. --compare also times
the same question asked by the code checked out in OLD_CHECKOUT (PYTHONPATH=OLD_CHECKOUT/src),
on the same index, which must be a format that code reads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
QUESTION = "How many Luban Workshops has Kazakhstan hosted?"


def wall(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=300)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--project", type=Path, default=ROOT / "bench" / "out" / "article", help="corpus/, index/"
    )
    parser.add_argument("--config", type=Path, help="the project's kzqa.yaml, if it has none")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--compare", type=Path, help="an old checkout (e.g. a git worktree)")
    args = parser.parse_args()
    if not (args.project / "index" / "manifest.json").is_file():
        import shutil

        if not (args.project / "corpus").is_dir():
            shutil.copytree(ROOT / "corpus", args.project / "corpus")
        if args.config and not (args.project / "kzqa.yaml").is_file():
            shutil.copy(args.config, args.project / "kzqa.yaml")
        subprocess.run(
            [str(Path(sys.executable).parent / "kzqa"), "index"], cwd=args.project, check=True
        )
    bindir = Path(sys.executable).parent
    ask = ["ask", "--no-update", "--json", args.question]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "kzqa ask (cold)": [str(bindir / "kzqa"), *ask],
        "kzqa --help": [str(bindir / "kzqa"), "--help"],
        "import sentence_transformers": [sys.executable, "-c", "import sentence_transformers"],
    }
    envs: dict[str, dict[str, str]] = {}
    if args.compare:
        old = f"kzqa ask (cold), {args.compare.name}"
        commands[old] = [sys.executable, "-m", "kzqa", *ask]
        envs[old] = {**os.environ, "PYTHONPATH": str(args.compare.resolve() / "src")}
    for name, cmd in commands.items():  # warm the page cache once; not timed
        wall(cmd, args.project, envs.get(name))
    times: dict[str, list[float]] = {name: [] for name in commands}
    for r in range(args.rounds):
        order = list(commands.items())
        if r % 2:
            order.reverse()
        for name, cmd in order:
            times[name].append(wall(cmd, args.project, envs.get(name)))
    st = statistics.median(times["import sentence_transformers"])
    print(f"{'command':32} {'median s':>9} {'min s':>7} {'max s':>7} {'x import ST':>12}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:32} {med:9.3f} {min(values):7.3f} {max(values):7.3f} {med / st:12.3f}")
    print(f"rounds: {args.rounds}; goal: kzqa ask <= 0.10 x import sentence_transformers")


if __name__ == "__main__":
    main()
