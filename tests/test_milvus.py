"""`store: milvus` on Milvus Lite (the real engine, in this process; no mock), with the real
model and the real article: the same answers and citations as FAISS, updates that touch only
the changed file's rows, a build that dies part way, and `kzqa verify`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ARTICLE, ask_json
from kzqa import store
from kzqa.build import build_index
from kzqa.cli import app
from kzqa.config import load_config
from kzqa.errors import ConfigError
from kzqa.ops.verify import verify_index
from kzqa.search import Searcher
from kzqa.store.milvus import MilvusStore, passage_key, resolve
from test_e2e import KNOWN

pytest.importorskip("pymilvus")
runner = CliRunner()
LUBAN = "How many Luban Workshops has Kazakhstan hosted?"
OTHER = "steppe.md"  # a second file, to see that an update leaves its rows alone


class Crash(BaseException):
    """Stands for the process dying (kill -9, power cut) where it is raised."""


@pytest.fixture(scope="session")
def milvus_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The article (and a short second file) indexed into Milvus Lite once; copy to change."""
    root = tmp_path_factory.mktemp("milvus")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    (root / "corpus" / OTHER).write_text(
        "# The steppe\n\nThe Kazakh steppe is one of the largest dry grasslands in the world, "
        "home to saiga antelope and to herders who move their flocks with the seasons.\n",
        encoding="utf-8",
    )
    (root / "kzqa.yaml").write_text("store: milvus\n", encoding="utf-8")
    build_index(load_config(root / "kzqa.yaml"))
    return root


@pytest.fixture
def mproject(milvus_built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the Milvus project (its Milvus Lite data lives in index/)."""
    dest = tmp_path / "mproj"
    shutil.copytree(milvus_built, dest)
    (dest / "index" / "milvus.db" / "LOCK").unlink(missing_ok=True)  # held by the original
    monkeypatch.chdir(dest)
    monkeypatch.delenv("KZQA_CONFIG", raising=False)
    return dest


def collection(project: Path) -> tuple[MilvusStore, int]:
    """The project's collection and the generation number its manifest names."""
    manifest = store.read_manifest(project / "index")
    assert manifest is not None
    info = manifest.index_type
    milvus = MilvusStore(resolve(info["uri"], project / "index"), info["collection"])
    milvus.load()
    return milvus, info["generation"]


def rows(milvus: MilvusStore) -> dict[str, dict]:
    found = milvus.client.query(
        milvus.collection, filter="born >= 0", output_fields=["key", "path", "born", "dead"]
    )
    return {r["key"]: r for r in found}


def test_store_and_milvus_keys_are_checked_by_name(tmp_path: Path) -> None:
    for text, key in [
        ("store: lancedb\n", "'store'"),
        ("store: milvus\nmilvus:\n  collection: 9lives\n", "'milvus.collection'"),
        ("milvus:\n  uri: 19530\n", "'milvus.uri'"),
        ("milvus:\n  url: x\n", "'milvus.url'"),
        ("milvus:\n  uri: http:host\n", "'milvus.uri'"),
    ]:
        (tmp_path / "k.yaml").write_text(text)
        with pytest.raises(ConfigError, match=key):
            load_config(tmp_path / "k.yaml")
    (tmp_path / "k.yaml").write_text("store: milvus\nmilvus:\n  uri: data/m.db\n")
    cfg = load_config(tmp_path / "k.yaml")
    assert cfg.milvus_uri == str(tmp_path / "data" / "m.db")  # relative to the file


@pytest.mark.slow
def test_milvus_answers_with_the_same_passages_and_citations_as_faiss(
    mproject: Path, built_index: Path
) -> None:
    # The FAISS index of the same article (conftest.built_index) beside the Milvus one.
    faiss = Searcher.open(load_config(None, built_index / "corpus", built_index / "index"))
    milvus = Searcher.open(load_config(mproject / "kzqa.yaml"))
    assert milvus.milvus is not None and faiss.milvus is None
    for question, words in KNOWN.items():
        a, b = faiss.search(question, 3), milvus.search(question, 3)
        assert words in b.hits[0].passage.text, question
        assert b.answered is a.answered is True
        # The same top passage, citation and answer sentence (the Milvus corpus has one more
        # file, so BM25's statistics and the lower ranks may differ).
        x, y = a.hits[0], b.hits[0]
        assert (x.passage.path, x.passage.start_char) == (y.passage.path, y.passage.start_char)
        assert x.answer == y.answer and y.source.verified
        assert y.scores["dense"] == pytest.approx(x.scores["dense"], abs=1e-4)
    # Abstention reads the local vocabulary as it reads the BM25 index's.
    off = milvus.search("What is the boiling point of tungsten carbide?", 3)
    assert off.answered is False and "tungsten" in (off.abstain_reason or "")
    out = ask_json(LUBAN)
    top = out["results"][0]
    text = (mproject / "corpus" / ARTICLE.name).read_text(encoding="utf-8")
    assert text[top["citation"]["start_char"] : top["citation"]["end_char"]] == top["text"]
    assert "three Luban Workshops" in top["text"]


@pytest.mark.slow
def test_an_update_changes_only_the_changed_files_rows(mproject: Path) -> None:
    cfg = load_config(mproject / "kzqa.yaml")
    milvus, before_gen = collection(mproject)
    before = rows(milvus)
    article = mproject / "corpus" / ARTICLE.name
    article.write_text(
        article.read_text(encoding="utf-8").replace("three Luban", "four Luban"), encoding="utf-8"
    )
    report = build_index(cfg)
    assert report.changed == [ARTICLE.name] and report.passages_embedded == 1
    milvus, gen = collection(mproject)
    assert gen == before_gen + 1
    after = rows(milvus)
    other = {k for k, r in before.items() if r["path"] == OTHER}
    assert other and all(after[k] == before[k] for k in other)  # untouched
    born = [r for r in after.values() if r["born"] == gen]
    assert born and {r["path"] for r in born} == {ARTICLE.name}
    gone = [r for r in after.values() if r["dead"] == gen]
    assert len(gone) == len(born)  # the edited passage (and those after it, moved) replaced
    assert "four Luban Workshops" in ask_json(LUBAN)["results"][0]["text"]
    assert verify_index(cfg).ok
    # The next build deletes the rows no reader can see any more.
    (mproject / "corpus" / OTHER).write_text("# The steppe\n\nGone to grass.\n", encoding="utf-8")
    build_index(cfg)
    assert all(r["dead"] != gen for r in rows(collection(mproject)[0]).values())
    assert verify_index(cfg).ok


@pytest.mark.slow
@pytest.mark.parametrize("where", ["insert", "remove", "flush"])
def test_a_build_killed_part_way_leaves_the_last_state_answering(
    mproject: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    cfg = load_config(mproject / "kzqa.yaml")
    _, gen = collection(mproject)
    passages = store.read_manifest(cfg.index).passages  # type: ignore[union-attr]
    article = mproject / "corpus" / ARTICLE.name
    article.write_text(
        article.read_text(encoding="utf-8").replace("three Luban", "four Luban"), encoding="utf-8"
    )
    real = getattr(MilvusStore, where)

    def die_after(self: MilvusStore, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)  # the step is done, in Milvus; the manifest is not written
        raise Crash

    monkeypatch.setattr(MilvusStore, where, die_after)
    with pytest.raises(Crash):
        build_index(cfg)
    monkeypatch.setattr(MilvusStore, where, real)
    milvus, live = collection(mproject)
    assert live == gen and milvus.count(gen) == passages
    # The old state answers from the collection as it was (the file on disk moved on, so
    # the citation is flagged as no longer verified, as with FAISS).
    hit = ask_json(LUBAN)["results"][0]
    assert "three Luban Workshops" in hit["text"]
    assert verify_index(cfg).problems == [f"{ARTICLE.name} changed since it was indexed"]
    # The next build undoes what the killed one left and commits.
    build_index(cfg)
    assert "four Luban Workshops" in ask_json(LUBAN)["results"][0]["text"]
    assert verify_index(cfg).ok
    assert not [r for r in rows(collection(mproject)[0]).values() if r["born"] > gen + 1]


KILL_AFTER_INSERT = """
import os, signal
from kzqa.build import build_index
from kzqa.config import load_config
from kzqa.store.milvus import MilvusStore

real = MilvusStore.insert

def insert_then_die(self, *args, **kwargs):
    real(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # rows in Milvus Lite's log, no manifest written

MilvusStore.insert = insert_then_die
build_index(load_config("kzqa.yaml"))
"""


@pytest.mark.slow
def test_a_build_killed_with_sigkill_leaves_the_last_state_answering(mproject: Path) -> None:
    """A real kill -9 of another process between its Milvus writes and its manifest: Milvus
    Lite's data stays readable, and the filter hides what the dead build inserted."""
    manifest = store.read_manifest(mproject / "index")
    assert manifest is not None
    gen = manifest.index_type["generation"]
    article = mproject / "corpus" / ARTICLE.name
    article.write_text(
        article.read_text(encoding="utf-8").replace("three Luban", "four Luban"), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_INSERT], cwd=mproject, env=env, timeout=300
    )
    assert done.returncode == -signal.SIGKILL
    milvus, live = collection(mproject)
    assert live == gen and milvus.count(gen) == manifest.passages
    assert [r for r in rows(milvus).values() if r["born"] > gen]  # the dead build's rows
    assert "three Luban Workshops" in ask_json(LUBAN)["results"][0]["text"]
    build_index(load_config(mproject / "kzqa.yaml"))
    assert "four Luban Workshops" in ask_json(LUBAN)["results"][0]["text"]
    assert verify_index(load_config(mproject / "kzqa.yaml")).ok


@pytest.mark.slow
def test_verify_finds_a_row_missing_from_the_collection(mproject: Path) -> None:
    cfg = load_config(mproject / "kzqa.yaml")
    assert verify_index(cfg).ok
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None
    gen = store.open_generation(cfg.index)
    assert gen is not None
    milvus, _ = collection(mproject)
    key = passage_key(gen.passages[0], manifest.fingerprint)
    milvus.client.delete(milvus.collection, filter=f"key == '{key}'")
    (problem,) = verify_index(cfg).problems
    assert "1 of the index's are missing" in problem
    result = runner.invoke(app, ["verify"])
    assert result.exit_code != 0


@pytest.mark.slow
def test_kzqa_serve_answers_from_milvus_and_follows_a_rebuild(mproject: Path) -> None:
    from conftest import serving
    from test_server import get

    with serving() as srv:
        status, got = get(srv, "/ask", q=LUBAN, k=3)
        assert status == 200 and got == ask_json(LUBAN, "-k", "3")
        article = mproject / "corpus" / ARTICLE.name
        article.write_text(
            article.read_text(encoding="utf-8").replace("three Luban", "four Luban"),
            encoding="utf-8",
        )
        build_index(load_config(mproject / "kzqa.yaml"))  # `kzqa index`: the server reloads
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, got = get(srv, "/ask", q=LUBAN, k=1)
            if status == 200 and "four Luban" in got["results"][0]["text"]:
                break
            time.sleep(0.2)
        assert "four Luban Workshops" in got["results"][0]["text"]
        assert got["results"][0]["citation"]["verified"] is True
