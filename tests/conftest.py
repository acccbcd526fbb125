"""Shared fixtures: a copy of the real article in a tmp project, the real model, a fake one."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kzqa import store
from kzqa.config import Config, load_config
from kzqa.embed import Embedder
from kzqa.files import write_text_atomic

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "academic-exchanges-china-kazakhstan.txt"


class FakeEmbedder(Embedder):
    """Deterministic bag-of-words vectors: fast, and similar texts get similar vectors.

    A subclass of the real base class, so the contract is checked, not imitated.
    """

    name = "fake"
    fingerprint = "fake-v1"
    dimension = 64
    max_tokens = 256

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def embed_passages(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], progress=None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, and a bag for each sentence (the real model pools its tokens)."""
        self.embedded += list(texts)
        vectors = self._bags(texts, progress)
        return vectors, [
            self._bags([t[s:e] for s, e in ss]) for t, ss in zip(texts, spans, strict=True)
        ]

    def _bags(self, texts: Sequence[str], progress=None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                h = int(hashlib.md5(word.strip(".,;:!?\"'").encode()).hexdigest(), 16)
                out[row, h % self.dimension] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        if progress:
            progress(len(texts))
        return out


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding corpus/ with the real article; the working directory."""
    (tmp_path / "corpus").mkdir()
    shutil.copy(ARTICLE, tmp_path / "corpus" / ARTICLE.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KZQA_CONFIG", raising=False)
    return tmp_path


@pytest.fixture
def cfg(project: Path) -> Config:
    return load_config(None, project / "corpus", project / "index")


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The article indexed once with the real model (about 10 s); copy before changing it."""
    from kzqa.build import build_index

    root = tmp_path_factory.mktemp("real")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    build_index(load_config(None, root / "corpus", root / "index"))
    return root


def _link_models(src: str, dst: str) -> None:
    """Copy a file, but hard-link the exported question and passage encoders (about 110 MB a
    copy, and over a hundred tests copy the project). kzqa replaces those files, never writes
    into them; a test that damages one must unlink it first."""
    if Path(src).parent.parent.name == "onnx" and Path(src).suffix == ".onnx":
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


@pytest.fixture
def real_project(
    built_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private copy of the built project (corpus + index), as the working directory."""
    dest = tmp_path / "proj"
    shutil.copytree(built_index, dest, symlinks=True, copy_function=_link_models)
    monkeypatch.chdir(dest)
    monkeypatch.delenv("KZQA_CONFIG", raising=False)
    models = sorted((built_index / "index").glob("onnx/*/*.onnx"))
    before = [(m, m.stat().st_mtime_ns) for m in models]
    yield dest
    for model, mtime in before:
        assert model.stat().st_mtime_ns == mtime, (
            f"this test wrote into {model.name}, hard-linked to every test's copy: unlink it first"
        )


def as_format_1(project: Path) -> str:
    """Make the index look written by a kzqa of on-disk format 1 (before generations were
    marked as kzqa's); returns its generation's name."""
    index = project / "index"
    manifest = store.read_manifest(index)
    assert manifest is not None
    (index / manifest.generation / store.OWNER).unlink()
    manifest.format = 1
    write_text_atomic(index / store.MANIFEST, manifest.to_json())
    return manifest.generation


@contextmanager
def serving(**options: Any) -> Iterator[Any]:
    """A real `kzqa serve` (make_server) on a free port in a thread, for the project in the
    working directory; what it logs is kept in .logged."""
    from kzqa.serve import make_server

    logged: list[str] = []
    srv = make_server(load_config(None), port=0, log=logged.append, **options)
    srv.logged = logged  # type: ignore[attr-defined]
    srv.service.poll = 0.05
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


KZQA = [sys.executable, "-m", "kzqa"]


def ask_json(*args: str) -> dict:
    """What `kzqa ask ARGS --json --no-update` prints, run in this process (CliRunner)."""
    from typer.testing import CliRunner

    from kzqa.cli import app

    result = CliRunner().invoke(app, ["ask", *args, "--json", "--no-update"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@contextmanager
def kzqa_serve(project: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A real `kzqa serve --port 0` process in the project: its base URL once it answers, and
    the process; stopped (SIGTERM) when done."""
    proc = subprocess.Popen(
        [*KZQA, "serve", "--port", "0", *options],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "kzqa serve: answering on http://127.0.0.1:PORT/ask…"
        found = re.search(r"(http://127\.0\.0\.1:\d+)/ask", line)
        assert found, line + proc.stderr.read()
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
        yield found.group(1), proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
