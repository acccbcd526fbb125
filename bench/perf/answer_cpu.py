"""Where an answer's CPU goes: each stage of a served answer, on the thread's CPU clock.

    .venv/bin/python bench/perf/answer_cpu.py [--project bench/out/p10k] [--questions 599]
        [--k 5] [--rounds 3]

Opens the project's index the way `kzqa serve` does (serve.service.Service: one ONNX thread,
everything preloaded), then answers the questions serve_load.py sends (COVID-QA and SciFact
queries, alternating) one after another, as the server's worker does for GET /ask, down to
the JSON bytes, so the total compares with serve_load's server CPU per answer. Each stage's
function is wrapped by a timer that charges its own CPU time (time.thread_time_ns, less the
stages it calls) to it; "other" is what the answer cost outside every named stage. Questions
are new to the server (its question-vector and answer caches are emptied before each round:
a repeated question is answered from the kept answer in about 0.1 ms). Prints, per
stage, the median over rounds of the CPU per answer and its share. HTTP is not in here:
bench/perf/http_overhead.py measures it (0.17-0.29 ms per request with h11).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from serve_load import load_questions  # bench/perf/, beside this script

from kzqa import render
from kzqa.config import load_config
from kzqa.kept import Kept
from kzqa.search import fusion, lexical, searcher
from kzqa.search.cite import SpanChecker
from kzqa.serve import service

ROOT = Path(__file__).resolve().parents[2]  # the repository
ENCODER = "question embedding"
# stage -> the functions whose own CPU is charged to it: (owner, attribute name).
STAGES: dict[str, list[tuple[Any, str]]] = {
    "dense search": [(searcher.Searcher, "search_dense")],
    "BM25": [(lexical.Lexical, "search_many")],
    "sentence step": [(searcher.Searcher, "match_sentences"), (searcher.Searcher, "answers")],
    "fusion": [(fusion, "fuse"), (fusion, "with_neighbours")],
    "confidence": [
        (searcher, "confidence"),
        (searcher, "question_terms"),
        (lexical.Lexical, "unknown"),
        (searcher, "content_stems"),
    ],
    "reading cited files": [(SpanChecker, "verify"), (SpanChecker, "locate")],
    "JSON": [(service, "ask_json"), (render, "dumps")],
}


class Clock:
    """Own CPU time per stage: a stage called inside another is not charged to both."""

    def __init__(self) -> None:
        self.spent: dict[str, int] = {}
        self._stack: list[list[int]] = []  # per running stage: [children's CPU ns]

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append([0])
            started = time.thread_time_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.thread_time_ns() - started
                (children,) = self._stack.pop()
                self.spent[stage] = self.spent.get(stage, 0) + took - children
                if self._stack:
                    self._stack[-1][0] += took

        return timed


def instrument(clock: Clock, svc: service.Service) -> None:
    for stage, targets in STAGES.items():
        for owner, name in targets:
            setattr(owner, name, clock.wrap(stage, getattr(owner, name)))
    encoder = svc.searcher.encoder
    encoder.embed_queries = clock.wrap(ENCODER, encoder.embed_queries)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT / "bench" / "out" / "p10k")
    parser.add_argument("--questions", type=int, default=599)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    questions = load_questions(args.questions)
    p = args.project
    cfg = load_config(None, corpus=p / "corpus", index=p / "index")
    svc = service.Service(cfg, log=lambda _: None)
    svc.ask("warm up", args.k, None)
    clock = Clock()
    instrument(clock, svc)
    rounds: list[dict[str, float]] = []
    for _ in range(args.rounds):
        svc.questions = svc.searcher.questions = searcher.QuestionCache()
        svc.answers = Kept(service.ANSWERS)
        clock.spent = {}
        started = time.thread_time_ns()
        for q in questions:
            render.dumps(svc.ask(q, args.k, None))  # the body GET /ask sends
        total = time.thread_time_ns() - started
        per = {stage: ns / len(questions) / 1e6 for stage, ns in clock.spent.items()}
        per["other"] = total / len(questions) / 1e6 - sum(per.values())
        per["total"] = total / len(questions) / 1e6
        rounds.append(per)
    passages = svc.searcher.manifest.passages
    print(f"{passages:,} passages, {len(questions)} new questions, k={args.k}, ", end="")
    print(f"median of {args.rounds} rounds (CPU ms per answer, one thread)")
    print("| stage | CPU ms | share |")
    print("| --- | ---: | ---: |")
    median = {s: statistics.median(r.get(s, 0.0) for r in rounds) for s in rounds[0]}
    order = [ENCODER, *STAGES, "other"]
    for stage in order:
        share = median.get(stage, 0.0) / median["total"]
        print(f"| {stage} | {median.get(stage, 0.0):.2f} | {share:.0%} |")
    print(f"| **total** | **{median['total']:.2f}** | |")
    rest = median["total"] - median.get(ENCODER, 0.0)
    print(f"everything but the question encoder: {rest:.2f} ms ({rest / median['total']:.0%})")


if __name__ == "__main__":
    main()
