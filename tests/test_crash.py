"""A build that dies part way (kill -9 while embedding; a crash between the new generation's
rename into place and the manifest's write): the previous index stays usable, the next run
finishes, and what the dead build left is removed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kzqa
from kzqa import store
from kzqa.store.journal import journal_path, read_journal

KZQA = [sys.executable, "-m", "kzqa"]


def grow_corpus(root: Path, documents: int) -> None:
    """Many distinct documents made of the article's paragraphs (real text, new passages)."""
    article = next((root / "corpus").glob("*.txt")).read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in article.split("\n\n") if len(p.strip()) > 80]
    for n in range(documents):
        body = "\n\n".join(f"Report {n}, part {i}. {p}" for i, p in enumerate(paragraphs))
        (root / "corpus" / "bulk").mkdir(exist_ok=True)
        (root / "corpus" / "bulk" / f"report-{n:03d}.txt").write_text(body + "\n")


def test_sigkill_mid_embedding_keeps_the_old_index_and_resumes(real_project: Path) -> None:
    index = real_project / "index"
    before = store.read_manifest(index)
    grow_corpus(real_project, 24)
    build = subprocess.Popen(
        [*KZQA, "index"], cwd=real_project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    journal = journal_path(index, before.model_fingerprint)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and build.poll() is None:
        if read_journal(journal, before.dimension).end > 0:
            break
        time.sleep(0.05)
    assert build.poll() is None, "the build finished before it could be killed"
    build.send_signal(signal.SIGKILL)
    build.wait()
    embedded_before_kill = len(read_journal(journal, before.dimension).vectors)
    assert embedded_before_kill >= 1

    # The live index is the old one, complete and usable.
    assert store.read_manifest(index) == before
    ask = subprocess.run(
        [*KZQA, "ask", "How many Luban Workshops has Kazakhstan hosted?", "--json", "--no-update"],
        cwd=real_project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ask.returncode == 0, ask.stderr
    top = json.loads(ask.stdout)["results"][0]
    assert top["citation"]["source"] == "corpus/academic-exchanges-china-kazakhstan.txt"
    assert "three Luban Workshops" in top["text"]

    # The next build finishes the job, reusing what the killed one embedded.
    finish = subprocess.run(
        [*KZQA, "index", "--json"], cwd=real_project, capture_output=True, text=True, timeout=600
    )
    assert finish.returncode == 0, finish.stderr
    report = json.loads(finish.stdout)
    assert len(report["added"]) == 24
    new_passages = report["passages_total"] - before.passages
    assert report["passages_embedded"] == new_passages - embedded_before_kill
    assert not journal.exists() and not list(index.glob(".staging-*"))
    verify = subprocess.run(
        [*KZQA, "verify"], cwd=real_project, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stderr


class Crash(Exception):
    """Stands for the process dying (power cut, kill -9) at the point it is raised."""


LUBAN = "How many Luban Workshops has Kazakhstan hosted?"
ALMATY = "What is the largest city of Kazakhstan?"
ARTICLE_SOURCE = "academic-exchanges-china-kazakhstan.txt"


def test_a_crash_after_the_rename_before_the_manifest_keeps_the_old_index(
    real_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """store.commit renames the staged generation into place, then writes manifest.json: dying
    in between leaves a complete generation no manifest names. The old one stays live, the
    next build commits, and its prune removes the orphan (marked as kzqa's)."""
    cfg = kzqa.load_config()
    index = cfg.index
    before = store.read_manifest(index)
    assert before is not None
    (real_project / "corpus" / "almaty.txt").write_text(
        "Almaty is the largest city of Kazakhstan.\n", encoding="utf-8"
    )
    real_write = store.write_text_atomic
    at_crash: list[str] = []  # the generation folders present when the manifest was written

    def crash_before_the_manifest(path: Path, text: str) -> None:
        if path == index / store.MANIFEST:
            at_crash.extend(sorted(p.name for p in index.glob("gen-*")))
            raise Crash
        real_write(path, text)

    with monkeypatch.context() as m:
        m.setattr(store, "write_text_atomic", crash_before_the_manifest)
        with pytest.raises(Crash):
            kzqa.build_index(cfg)
    (orphan,) = set(at_crash) - {before.generation}  # renamed into place before the crash
    assert (index / orphan).is_dir() and store.owned(index / orphan)
    assert not list(index.glob(".staging-*"))
    assert store.read_manifest(index) == before

    # `ask` answers from the old generation (told not to update, it says the corpus moved).
    logs: list[str] = []
    result = kzqa.ask(cfg, LUBAN, update=False, log=logs.append)
    top = result.hits[0]
    assert top.passage.path == ARTICLE_SOURCE and "three Luban Workshops" in top.passage.text
    assert any("corpus changed since the index was built" in line for line in logs)
    almaty = kzqa.ask(cfg, ALMATY, update=False, log=logs.append)
    assert all(h.passage.path != "almaty.txt" for h in almaty.hits)

    # The next build commits; its prune deletes the orphan and keeps the live and previous.
    report = kzqa.build_index(cfg)
    assert report.committed and report.added == ["almaty.txt"]
    after = store.read_manifest(index)
    assert after is not None and after.generation not in (before.generation, orphan)
    assert sorted(p.name for p in index.glob("gen-*")) == sorted(
        [before.generation, after.generation]
    )
    top = kzqa.ask(cfg, ALMATY, log=logs.append).hits[0]
    assert top.passage.path == "almaty.txt" and top.source.verified
