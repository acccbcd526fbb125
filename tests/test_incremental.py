"""Corpus changes: only the needed work, exact reports, and never a stale citation."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import as_format_1
from kzqa import store
from kzqa.build import build_index
from kzqa.cli import app
from kzqa.config import Config
from kzqa.errors import StoreError
from kzqa.ops import watch
from kzqa.search.searcher import Searcher

runner = CliRunner()
ARTICLE_NAME = "academic-exchanges-china-kazakhstan.txt"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def search(cfg: Config, embedder, question: str, k: int = 3):
    gen = store.open_generation(cfg.index)
    return Searcher(cfg, gen, encoder=embedder).search(question, k).hits


def test_first_build_embeds_everything_then_nothing(cfg: Config, fake_embedder) -> None:
    first = build_index(cfg, embedder=fake_embedder)
    assert first.added == [ARTICLE_NAME] and first.rebuilt == "no index yet"
    assert first.passages_embedded == first.passages_total > 5
    again = build_index(cfg, embedder=fake_embedder)
    assert again.unchanged == [ARTICLE_NAME] and again.passages_embedded == 0
    assert not again.committed and again.rebuilt is None


def test_sentence_vectors_are_stored_and_kept_for_unchanged_passages(
    cfg: Config, fake_embedder
) -> None:
    build_index(cfg, embedder=fake_embedder)
    before = store.open_generation(cfg.index)
    assert before is not None and before.sentence_rows is not None
    old = {p.hash: before.sentence_vectors(i) for i, p in enumerate(before.passages)}
    write(cfg.corpus / "new.txt", "A new note. It has two sentences about glaciers.\n")
    report = build_index(cfg, embedder=fake_embedder)
    assert report.passages_embedded == 1
    after = store.open_generation(cfg.index)
    assert after is not None
    for row, p in enumerate(after.passages):
        vectors = after.sentence_vectors(row)
        assert vectors is not None and len(vectors) == len(p.sentence_spans())
        if p.path == ARTICLE_NAME:
            assert (vectors == old[p.hash]).all()
    new_row = next(i for i, p in enumerate(after.passages) if p.path == "new.txt")
    assert len(after.sentence_vectors(new_row)) == 2


def test_an_index_of_an_older_format_is_rebuilt_and_its_generation_removed(
    cfg: Config, fake_embedder
) -> None:
    """A format-1 index (older kzqa): the next build says why it rebuilds, and deletes the old
    generation its manifest named (kzqa's, though unmarked), but nothing else of the folder."""
    build_index(cfg, embedder=fake_embedder)
    old = as_format_1(cfg.index.parent)
    (cfg.index / "gen-of-the-user").mkdir()  # a folder kzqa did not write
    with pytest.raises(StoreError, match="format 1"):
        store.read_manifest(cfg.index)
    report = build_index(cfg, embedder=fake_embedder)
    assert report.rebuilt == "the index was written by an older kzqa (format 1)"
    assert report.passages_embedded == report.passages_total
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None and manifest.format == store.FORMAT
    assert not (cfg.index / old).exists()
    assert (cfg.index / "gen-of-the-user").is_dir()


def test_editing_one_paragraph_reembeds_one_passage(cfg: Config, fake_embedder) -> None:
    build_index(cfg, embedder=fake_embedder)
    article = cfg.corpus / ARTICLE_NAME
    text = article.read_text(encoding="utf-8")
    article.write_text(
        text.replace("three Luban Workshops", "four Luban Workshops"), encoding="utf-8"
    )
    fake_embedder.embedded.clear()
    report = build_index(cfg, embedder=fake_embedder)
    assert report.changed == [ARTICLE_NAME] and report.passages_embedded == 1
    assert len(fake_embedder.embedded) == 1 and "four Luban" in fake_embedder.embedded[0]
    hit = search(cfg, fake_embedder, "four Luban Workshops hosted")[0]
    new_text = article.read_text(encoding="utf-8")
    assert new_text[hit.passage.start_char : hit.passage.end_char] == hit.passage.text
    assert "four Luban Workshops" in hit.passage.text and hit.source.verified


def test_adding_and_removing_files(cfg: Config, fake_embedder) -> None:
    build_index(cfg, embedder=fake_embedder)
    write(
        cfg.corpus / "notes" / "astana.md",
        "---\ntitle: Astana notes\ndate: 2025-11-02\n---\n\n# Astana\n\n"
        "Astana is the capital of Kazakhstan. It hosts many universities.\n",
    )
    added = build_index(cfg, embedder=fake_embedder)
    assert added.added == ["notes/astana.md"] and added.passages_embedded == 1
    hit = search(cfg, fake_embedder, "capital Astana universities", k=1)[0]
    assert hit.passage.path == "notes/astana.md"
    assert (hit.source.title, hit.source.published) == ("Astana notes", "2025-11-02")
    (cfg.corpus / "notes" / "astana.md").unlink()
    removed = build_index(cfg, embedder=fake_embedder)
    assert removed.removed == ["notes/astana.md"] and removed.passages_embedded == 0
    gen = store.open_generation(cfg.index)
    assert all(p.path != "notes/astana.md" for p in gen.passages)
    assert "notes/astana.md" not in gen.manifest.files


def test_renaming_embeds_nothing_and_cites_the_new_name(cfg: Config, fake_embedder) -> None:
    from kzqa.ops.status import index_status

    build_index(cfg, embedder=fake_embedder)
    (cfg.corpus / ARTICLE_NAME).rename(cfg.corpus / "renamed.txt")
    (cfg.corpus / "copy.txt").write_bytes((cfg.corpus / "renamed.txt").read_bytes()[:-1] + b"?")
    # `status` calls it what `index` will: a rename (and the edited copy of the same size, added)
    changes = index_status(cfg)["changes"]
    assert changes["renamed"] == [{"from": ARTICLE_NAME, "to": "renamed.txt"}]  # as index says
    assert changes["added"] == ["copy.txt"] and changes["removed"] == []
    report = build_index(cfg, embedder=fake_embedder)
    assert report.renamed == [(ARTICLE_NAME, "renamed.txt")]
    assert report.added == ["copy.txt"] and not report.removed
    assert index_status(cfg)["up_to_date"]
    paths = {p.path for p in store.open_generation(cfg.index).passages}
    assert paths == {"renamed.txt", "copy.txt"}
    hits = search(cfg, fake_embedder, "Luban Workshops")
    assert all(h.source.verified for h in hits)


def test_touching_a_file_is_not_a_change(cfg: Config, fake_embedder) -> None:
    build_index(cfg, embedder=fake_embedder)
    article = cfg.corpus / ARTICLE_NAME
    os.utime(article, ns=(time.time_ns(), time.time_ns() + 10**9))
    report = build_index(cfg, embedder=fake_embedder)
    assert report.unchanged == [ARTICLE_NAME] and report.passages_embedded == 0
    manifest = store.read_manifest(cfg.index)
    assert manifest.files[ARTICLE_NAME]["mtime_ns"] == article.stat().st_mtime_ns


def test_model_or_chunking_change_rebuilds_and_says_why(cfg: Config, fake_embedder) -> None:
    first = build_index(cfg, embedder=fake_embedder)
    fake_embedder.fingerprint = "fake-v2"
    report = build_index(cfg, embedder=fake_embedder)
    assert report.rebuilt.startswith("the model changed (index: fake fake-v1")
    assert report.passages_embedded == first.passages_total
    # New chunking re-chunks every file; passages whose text is unchanged keep their vectors.
    smaller = replace(cfg, pack_tokens=20, min_tokens=4)
    report = build_index(smaller, embedder=fake_embedder)
    assert report.rebuilt.startswith("the chunking settings changed")
    gen = store.open_generation(cfg.index)
    assert gen.manifest.chunking["pack_tokens"] == 20
    assert report.passages_total > first.passages_total
    assert 0 < report.passages_embedded < report.passages_total
    assert report.passages_reused > 0
    assert build_index(smaller, full=True, embedder=fake_embedder).rebuilt == "--full"


def test_old_generations_are_pruned(cfg: Config, fake_embedder) -> None:
    article = cfg.corpus / ARTICLE_NAME
    for n in range(4):
        article.write_text(article.read_text() + f"\nEdit number {n}.\n")
        build_index(cfg, embedder=fake_embedder)
    generations = sorted(p.name for p in cfg.index.glob("gen-*"))
    assert len(generations) == 2
    assert store.read_manifest(cfg.index).generation == generations[-1]
    assert not list(cfg.index.glob(".staging-*"))


def test_a_reader_of_the_replaced_generation_answers_from_it_after_a_prune(
    cfg: Config, fake_embedder
) -> None:
    """A Searcher opened just before a build switches the manifest reads its generation
    lazily, after the build committed and pruned: that generation is kept for it."""
    question = "How many Luban Workshops has Kazakhstan hosted?"
    build_index(cfg, embedder=fake_embedder)
    first = store.read_manifest(cfg.index).generation
    expected = [(h.passage, h.score) for h in search(cfg, fake_embedder, question)]
    reader = Searcher.open(cfg, encoder=fake_embedder)  # opened; nothing read yet

    write(cfg.corpus / "luban.txt", "How many Luban Workshops has Kazakhstan hosted? Three.\n")
    assert build_index(cfg, embedder=fake_embedder).committed
    second = store.read_manifest(cfg.index).generation
    assert second != first and (cfg.index / first).is_dir()
    assert search(cfg, fake_embedder, question)[0].passage.path == "luban.txt"
    got = reader.search(question, 3).hits  # reads the first generation now
    assert [(h.passage, h.score) for h in got] == expected
    assert all(h.passage.path == ARTICLE_NAME and h.source.verified for h in got)

    # One more build: the first generation is no one's previous any more, and goes.
    write(cfg.corpus / "more.txt", "Another note about Astana.\n")
    assert build_index(cfg, embedder=fake_embedder).committed
    third = store.read_manifest(cfg.index).generation
    assert sorted(p.name for p in cfg.index.glob("gen-*")) == sorted([second, third])


def test_prune_deletes_only_folders_kzqa_marked_as_its_own(cfg: Config, fake_embedder) -> None:
    build_index(cfg, embedder=fake_embedder)
    live = store.read_manifest(cfg.index).generation
    theirs = ["gen-20200101T000000Z-000000001", ".staging-gen-20200101T000000Z-000000002"]
    ours = ["gen-20200101T000000Z-000000003", ".staging-gen-20200101T000000Z-000000004"]
    for name in theirs + ours:
        write(cfg.index / name / "notes.txt", f"{name}: the user's or kzqa's?\n")
    for name in ours:
        write(cfg.index / name / store.OWNER, "kzqa\n")
    write(cfg.corpus / "new.txt", "A new note about Aktobe.\n")
    assert build_index(cfg, embedder=fake_embedder).committed
    new = store.read_manifest(cfg.index).generation
    for name in theirs:
        assert (cfg.index / name / "notes.txt").read_text() == f"{name}: the user's or kzqa's?\n"
    assert not any((cfg.index / name).exists() for name in ours)
    assert sorted(p.name for p in cfg.index.glob("gen-*")) == sorted([theirs[0], live, new])


def test_ask_updates_a_stale_index_and_says_so(real_project: Path) -> None:
    write(
        real_project / "corpus" / "astana.md",
        "# Astana\n\nAstana became the capital of Kazakhstan in 1997.\n",
    )
    result = runner.invoke(app, ["ask", "When did Astana become the capital?", "--json"])
    assert result.exit_code == 0, result.output
    assert "index updated" in result.stderr
    top = json.loads(result.stdout)["results"][0]
    assert top["citation"]["source"] == "corpus/astana.md" and "1997" in top["text"]


def test_no_update_warns_and_flags_stale_citations(real_project: Path) -> None:
    article = real_project / "corpus" / ARTICLE_NAME
    article.write_text(article.read_text().replace("three Luban", "several Luban"))
    result = runner.invoke(
        app, ["ask", "How many Luban Workshops has Kazakhstan hosted?", "--json", "--no-update"]
    )
    assert result.exit_code == 0
    assert "corpus changed since the index was built" in result.stderr
    top = json.loads(result.stdout)["results"][0]
    assert top["citation"]["verified"] is False
    # the default path updates first, so the citation is exact again
    result = runner.invoke(
        app, ["ask", "How many Luban Workshops has Kazakhstan hosted?", "--json"]
    )
    top = json.loads(result.stdout)["results"][0]
    assert "several Luban" in top["text"] and top["citation"]["verified"] is True


def test_index_json_report_keys(real_project: Path) -> None:
    write(real_project / "corpus" / "extra.txt", "An extra document about Almaty.\n")
    result = runner.invoke(app, ["index", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == ["extra.txt"] and report["unchanged"] == [ARTICLE_NAME]
    assert report["changed"] == [] and report["removed"] == []
    assert report["passages_embedded"] == 1
    assert report["passages_total"] == store.read_manifest(real_project / "index").passages


def test_watch_reindexes_once_per_burst_after_the_corpus_is_quiet(
    cfg: Config, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One on_change per burst of edits, QUIET_SECONDS after the last edit of the burst (the
    quiet clock restarts at every edit); none while nothing changes."""
    build_index(cfg, embedder=fake_embedder)
    quiet = 0.4
    monkeypatch.setattr(watch, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(watch, "QUIET_SECONDS", quiet)
    calls: list[tuple[float, list[str]]] = []  # (when, the files the build added or changed)
    called = threading.Event()
    stop = threading.Event()

    def on_change() -> None:
        report = build_index(cfg, embedder=fake_embedder)
        calls.append((time.monotonic(), sorted(report.added + report.changed)))
        called.set()

    def burst(names: list[str]) -> float:
        """Edits spaced well under the quiet time but spanning more than it; the last one's time."""
        for n, name in enumerate(names):
            path = cfg.corpus / name
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            last = time.monotonic()  # before the write: the watcher cannot see it earlier
            write(path, old + f"Edit {n} of {name} mentions Shymkent.\n")
            time.sleep(quiet / 4)
        return last

    thread = threading.Thread(target=watch.watch_corpus, args=(cfg, on_change, stop.is_set))
    thread.start()
    try:
        time.sleep(2 * quiet)
        assert calls == []  # nothing changed: no call
        names = [f"burst-{n}.txt" for n in range(3)]
        last = burst(names + names)  # six edits over 1.5 x the quiet time
        assert called.wait(10)
        called.clear()
        time.sleep(2 * quiet)  # quiet again: no second call for the same burst
        assert len(calls) == 1
        when, built = calls[0]
        assert when - last >= quiet  # not before the corpus was quiet
        assert built == names  # every edit of the burst, in one build

        last = burst([ARTICLE_NAME, "burst-1.txt"])  # a second burst: one more call
        assert called.wait(10)
        time.sleep(2 * quiet)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert len(calls) == 2
    assert calls[1][0] - last >= quiet
    assert calls[1][1] == sorted([ARTICLE_NAME, "burst-1.txt"])


def test_an_update_embeds_through_onnx_without_torch(real_project: Path) -> None:
    import subprocess
    import sys

    write(real_project / "corpus" / "almaty.txt", "Almaty is the largest city of Kazakhstan.\n")
    code = (
        "import sys, json; from kzqa.build import build_index; from kzqa.config import "
        "load_config; r = build_index(load_config()); "
        "print(json.dumps([r.passages_embedded, sorted(m for m in ('torch', 'transformers', "
        "'sentence_transformers') if m in sys.modules)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=real_project,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(out.stdout) == [1, []]
    result = runner.invoke(app, ["ask", "What is the largest city of Kazakhstan?", "--json"])
    assert json.loads(result.stdout)["results"][0]["citation"]["source"] == "corpus/almaty.txt"


def test_an_unindexable_file_is_known_not_added_again(real_project: Path) -> None:
    (real_project / "corpus" / "blank.txt").write_text("  \n\n")
    (real_project / "corpus" / "data.txt").write_bytes(b"\x00\x01binary")
    report = json.loads(runner.invoke(app, ["index", "--json"]).stdout)
    assert report["skipped"] == ["blank.txt", "data.txt"] and report["added"] == []
    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert status["up_to_date"] is True
    assert runner.invoke(app, ["verify"]).exit_code == 0
    ask = runner.invoke(app, ["ask", "How many Luban Workshops?", "--no-update"])
    assert ask.exit_code == 0 and "corpus changed" not in ask.stderr
    (real_project / "corpus" / "blank.txt").write_text("Now it holds a sentence about Aktau.\n")
    report = json.loads(runner.invoke(app, ["index", "--json"]).stdout)
    assert report["added"] == ["blank.txt"] and report["skipped"] == ["data.txt"]


def test_renaming_html_to_txt_rechunks_the_raw_text(cfg: Config, fake_embedder) -> None:
    page = "<html><body><p>Shymkent is a city in the south of Kazakhstan.</p></body></html>\n"
    write(cfg.corpus / "page.html", page)
    build_index(cfg, embedder=fake_embedder)
    (cfg.corpus / "page.html").rename(cfg.corpus / "page.txt")
    report = build_index(cfg, embedder=fake_embedder)
    assert report.renamed == [] and report.added == ["page.txt"]
    assert report.removed == ["page.html"]
    hit = search(cfg, fake_embedder, "Shymkent city south", k=1)[0]
    assert hit.passage.path == "page.txt" and hit.source.verified
    assert page[hit.passage.start_char : hit.passage.end_char] == hit.passage.text


class Told:
    """A progress factory (build.ProgressFactory) that records what it is told."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}

    def __call__(self, what: str, total: int):
        self.totals[what] = total
        self.done[what] = 0

        def advance(n: int) -> None:
            self.done[what] += n

        return advance


def test_a_build_tells_reading_and_embedding_progress(cfg: Config, fake_embedder) -> None:
    (cfg.corpus / "astana.txt").write_text("Astana became the capital in 1997.\n")
    told = Told()
    report = build_index(cfg, embedder=fake_embedder, progress=told)
    sizes = sum(p.stat().st_size for p in cfg.corpus.iterdir())
    assert told.totals == told.done == {"reading": sizes, "embedding": report.passages_embedded}
    (cfg.corpus / "astana.txt").write_text("Astana became the capital of Kazakhstan in 1997.\n")
    again = Told()
    report = build_index(cfg, embedder=fake_embedder, progress=again)
    size = (cfg.corpus / "astana.txt").stat().st_size
    assert again.totals == again.done == {"reading": size, "embedding": 1}
    quiet = Told()
    build_index(cfg, embedder=fake_embedder, progress=quiet)  # nothing to read or embed
    assert quiet.totals == {}


def test_a_build_tells_while_it_exports_the_question_encoder(cfg: Config, fake_embedder) -> None:
    class Exporting(type(fake_embedder)):  # type: ignore[misc]
        exports_onnx = True  # (its export_onnx is the base class's: it writes nothing)

    (cfg.corpus / "astana.txt").write_text("Astana became the capital in 1997.\n")
    told = Told()
    build_index(cfg, embedder=Exporting(), progress=told)
    assert told.totals["exporting"] == told.done["exporting"] == 1  # announced, then closed
    silent = Told()
    build_index(cfg, embedder=fake_embedder, progress=silent)  # a model with nothing to export
    assert "exporting" not in silent.totals


@pytest.mark.slow
def test_ask_tells_progress_while_it_updates_the_index(real_project: Path) -> None:
    from kzqa import api
    from kzqa.config import load_config

    added = real_project / "corpus" / "astana.txt"
    added.write_text("Astana became the capital in 1997.\n")
    told = Told()
    searcher = api.open_fresh(load_config(None), log=lambda _: None, progress=told)
    assert told.done == {"reading": added.stat().st_size, "embedding": 1}
    assert "astana.txt" in searcher.manifest.files


def test_a_skipped_file_is_warned_about_once_until_it_changes(cfg: Config, fake_embedder) -> None:
    """Another type, an empty file, a binary one: each warned about by the build that first
    sees it and by the first after it changes, not on every build (or --watch cycle)."""
    (cfg.corpus / "notes.pdfx").write_text("not read\n")
    (cfg.corpus / "empty.txt").write_text("")
    (cfg.corpus / "data.txt").write_bytes(b"\x00\x01binary")

    def warned() -> list[str]:
        report = build_index(cfg, embedder=fake_embedder)
        return sorted(w.split(":")[0] for w in report.warnings)

    expected = ["skipped data.txt", "skipped empty.txt", "skipped notes.pdfx"]
    assert warned() == expected
    assert warned() == []
    (cfg.corpus / "notes.pdfx").write_text("changed, still not read\n")
    assert warned() == ["skipped notes.pdfx"]
    assert warned() == []
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None and set(manifest.skipped) == {"notes.pdfx", "empty.txt", "data.txt"}
    (cfg.corpus / "notes.pdfx").unlink()
    assert warned() == [] and "notes.pdfx" not in store.read_manifest(cfg.index).skipped


def test_a_full_rebuild_reports_what_changed_not_every_file_as_added(
    cfg: Config, fake_embedder
) -> None:
    (cfg.corpus / "astana.txt").write_text("Astana became the capital in 1997.\n")
    build_index(cfg, embedder=fake_embedder)
    (cfg.corpus / "astana.txt").write_text("Astana became the capital of Kazakhstan in 1997.\n")
    (cfg.corpus / "almaty.txt").write_text("Almaty was the capital before Astana.\n")
    report = build_index(cfg, embedder=fake_embedder, full=True)
    assert report.rebuilt == "--full"
    assert (report.added, report.changed, report.unchanged) == (
        ["almaty.txt"],
        ["astana.txt"],
        [ARTICLE_NAME],
    )
    assert report.passages_embedded == 2  # the article's vectors were sound: reused
