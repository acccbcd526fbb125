"""kill -9 in the middle of `kzqa index`: the previous index stays usable, the next run finishes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

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
