"""Every bad input: one line on stderr, its documented exit code, no traceback, nothing lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kzqa import errors, store
from kzqa.cli import app

runner = CliRunner()


def run(*args: str, code: int) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    if code != 0:
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("kzqa: error")]
        assert len(lines) == 1, result.stderr
        return lines[0]
    return result.stdout


EMPTY = 'kzqa: error: the question is empty (ask something: kzqa ask "…")'


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([""], EMPTY),
        (["   \n "], EMPTY),
        (["question", "-k", "0"], "kzqa: error: -k must be at least 1, got 0"),
        (["question", "-k", "-3"], "kzqa: error: -k must be at least 1, got -3"),
    ],
)
def test_usage_errors_exit_2(real_project: Path, args: list[str], expected: str) -> None:
    assert run("ask", *args, code=errors.EXIT_USAGE) == expected


def test_ask_needs_a_question_or_a_file(real_project: Path) -> None:
    run("ask", code=errors.EXIT_USAGE)
    (real_project / "empty.txt").write_text("\n\n")
    assert "no questions" in run("ask", "--file", "empty.txt", code=errors.EXIT_USAGE)
    assert "cannot read" in run("ask", "--file", "missing.txt", code=errors.EXIT_USAGE)


def test_missing_corpus_folder_exits_4(project: Path) -> None:
    for command in (["index"], ["ask", "anything"]):
        message = run(*command, "--corpus", "nowhere", code=errors.EXIT_CORPUS)
        assert "corpus folder not found: nowhere" in message


def test_empty_corpus_exits_4(project: Path) -> None:
    (project / "empty").mkdir()
    (project / "empty" / "blank.txt").write_text("")
    (project / "empty" / ".hidden.txt").write_text("secret")
    assert "no documents in empty" in run("index", "--corpus", "empty", code=errors.EXIT_CORPUS)
    assert not (project / "index" / "manifest.json").exists()


def test_missing_config_file_exits_3(project: Path) -> None:
    message = run("status", "--config", "nope.yaml", code=errors.EXIT_CONFIG)
    assert "config file not found: nope.yaml" in message


def test_unreadable_config_exits_3(project: Path) -> None:
    (project / "dir.yaml").mkdir()
    assert "cannot read config dir.yaml" in run(
        "status", "--config", "dir.yaml", code=errors.EXIT_CONFIG
    )


def test_invalid_yaml_names_file_and_line(project: Path) -> None:
    (project / "kzqa.yaml").write_text("corpus: corpus\nsearch:\n  k: [1,\n")
    message = run("status", code=errors.EXIT_CONFIG)
    assert "invalid YAML in kzqa.yaml at line" in message


@pytest.mark.parametrize(
    "body,key",
    [
        ("colour: blue\n", "'colour'"),
        ("search:\n  k: many\n", "'search.k'"),
        ("search:\n  mode: fuzzy\n", "'search.mode'"),
        ("chunking:\n  max_tokens: 300\n  pack_tokens: 400\n", "'chunking.pack_tokens'"),
        ("search: 3\n", "'search'"),
        ("embedding:\n  questions: int4\n", "'embedding.questions'"),
    ],
)
def test_bad_config_values_name_the_key(project: Path, body: str, key: str) -> None:
    (project / "kzqa.yaml").write_text(body)
    message = run("status", code=errors.EXIT_CONFIG)
    assert "kzqa.yaml" in message and key in message


def test_kzqa_config_env_is_used(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "other.yaml").write_text("search:\n  k: 0\n")
    monkeypatch.setenv("KZQA_CONFIG", str(project / "other.yaml"))
    assert "'search.k'" in run("status", code=errors.EXIT_CONFIG)


def test_unknown_model_exits_6_with_what_to_install(project: Path) -> None:
    (project / "kzqa.yaml").write_text("model: no-such-model-anywhere\n")
    message = run("index", code=errors.EXIT_MODEL)
    assert "no-such-model-anywhere" in message and "pip install" in message
    assert not (project / "index" / "manifest.json").exists()


def test_index_from_another_format_exits_5(real_project: Path) -> None:
    manifest = real_project / "index" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format"] = 99
    manifest.write_text(json.dumps(data))
    message = run("ask", "anything", "--no-update", code=errors.EXIT_INDEX)
    assert "format 99" in message and "kzqa index --full" in message


def test_index_from_another_model_exits_5_without_update(real_project: Path) -> None:
    manifest = real_project / "index" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["model"], data["model_fingerprint"] = "some-other-model", "0000"
    manifest.write_text(json.dumps(data))
    message = run("ask", "anything", "--no-update", code=errors.EXIT_INDEX)
    assert "some-other-model" in message and "kzqa index" in message


@pytest.mark.parametrize(
    "damage", ["truncate", "garbage", "manifest", "manifest-bytes", "manifest-types"]
)
def test_damaged_index_exits_5_then_index_repairs_it(real_project: Path, damage: str) -> None:
    gen = store.open_generation(real_project / "index")
    assert gen is not None
    faiss_file, vectors = gen.folder / store.DENSE, gen.folder / store.VECTORS
    if damage == "truncate":
        faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    elif damage == "garbage":  # same size: only the content is wrong
        vectors.write_bytes(os.urandom(vectors.stat().st_size))
    elif damage == "manifest":
        (real_project / "index" / "manifest.json").write_text("{not json")
    elif damage == "manifest-bytes":  # not even UTF-8
        (real_project / "index" / "manifest.json").write_bytes(b"\xff\xfe{")
    else:  # valid JSON, but a field of the wrong type
        manifest = real_project / "index" / "manifest.json"
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "files": []}))
    message = run("ask", "How many Luban Workshops?", "--no-update", code=errors.EXIT_INDEX)
    assert "damaged" in message and "kzqa index --full" in message
    report = json.loads(run("index", "--json", code=0))
    assert report["rebuilt"].startswith("the index was damaged")
    # Every vector that still reads back sound is reused: all of them but in "garbage" (a
    # damaged manifest leaves the generation's own copy of it to say what the vectors are).
    lost = report["passages_total"] if damage == "garbage" else 0
    assert report["passages_embedded"] == lost
    out = json.loads(
        run("ask", "How many Luban Workshops has Kazakhstan hosted?", "--json", code=0)
    )
    assert "three Luban Workshops" in out["results"][0]["text"]


def test_second_build_refuses_while_one_runs(real_project: Path) -> None:
    (real_project / "corpus" / "more.md").write_text("# More\n\nNew text to index.\n")
    with store.write_lock(real_project / "index"):
        message = run("index", code=errors.EXIT_BUSY)
        assert "another `kzqa index` is updating" in message
        # ask still answers from the last complete index, and says why it did not update
        result = runner.invoke(app, ["ask", "How many Luban Workshops?", "--json"])
        assert result.exit_code == 0 and "answering from the last complete index" in result.stderr
    assert "more.md" in json.loads(run("index", "--json", code=0))["added"]


def test_verify_exits_8_on_mismatch_with_the_fix(real_project: Path) -> None:
    assert "ok" in run("verify", code=0)
    article = next((real_project / "corpus").iterdir())
    article.write_text(article.read_text() + "\nA new closing line.\n")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == errors.EXIT_VERIFY
    assert "changed since it was indexed" in result.stderr
    assert result.stderr.splitlines()[-1] == "Next: run `kzqa index`"  # one command
    assert "Traceback" not in result.output


def test_verify_finds_garbage_in_a_file_ask_does_not_read(real_project: Path) -> None:
    gen = store.open_generation(real_project / "index")
    faiss_file = gen.folder / store.DENSE
    faiss_file.write_bytes(os.urandom(faiss_file.stat().st_size))
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == errors.EXIT_VERIFY
    assert "dense.faiss is damaged (checksum mismatch)" in result.stderr
    assert result.stderr.splitlines()[-1] == "Next: run `kzqa index --full`"
    verdict = json.loads(runner.invoke(app, ["verify", "--json"]).stdout)
    assert verdict["ok"] is False and verdict["next"] == "kzqa index --full"
    report = json.loads(run("index", "--full", "--json", code=0))  # what verify said to run
    assert report["passages_embedded"] == 0  # the vectors were sound: reused, not embedded
    assert "ok" in run("verify", code=0)


@pytest.mark.parametrize("name", [store.VECTORS, store.SENTENCES])
def test_vectors_that_are_not_numbers_exit_5_never_nan_json(real_project: Path, name: str) -> None:
    import numpy as np

    gen = store.open_generation(real_project / "index")
    assert gen is not None
    path = gen.folder / name
    array = np.load(path)
    array[:] = np.nan  # same size, a valid header: only the numbers are wrong
    np.save(path, array)
    message = run("ask", "How many Luban Workshops?", "--no-update", "--json", code=5)
    assert "damaged" in message and "kzqa index --full" in message
    assert "damaged" in json.loads(run("index", "--json", code=0))["rebuilt"]
    assert "ok" in run("verify", code=0)


@pytest.mark.parametrize("name", ["model-int8.onnx", "model.onnx"])
def test_a_damaged_question_encoder_is_reported_and_exported_again(
    real_project: Path, name: str
) -> None:
    """The int8 graph answers questions: damaged, `ask` says so. The full graph embeds new
    documents: `ask` does not read it, `verify` finds it. `index` exports both again."""
    manifest = store.read_manifest(real_project / "index")
    assert manifest is not None and manifest.onnx
    model = real_project / "index" / manifest.onnx / name
    size = model.stat().st_size
    model.unlink()  # hard-linked to the shared build's (conftest)
    model.write_bytes(bytes(size))  # same size, all zeros
    if name == "model-int8.onnx":
        message = run("ask", "How many Luban Workshops?", "--no-update", code=errors.EXIT_INDEX)
        assert "question encoder" in message and "damaged" in message
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == errors.EXIT_VERIFY
    assert f"{name} does not match its checksum" in result.stderr
    run("index", code=0)
    out = json.loads(
        run("ask", "How many Luban Workshops has Kazakhstan hosted?", "--json", code=0)
    )
    assert "three Luban Workshops" in out["results"][0]["text"]
    assert "ok" in run("verify", code=0)


def test_a_missing_corpus_beside_a_built_index_is_an_error_not_silence(real_project: Path) -> None:
    message = run("ask", "Luban", "--corpus", "nowhere", code=errors.EXIT_CORPUS)
    assert "corpus folder not found: nowhere" in message and "--no-update" in message
    result = runner.invoke(app, ["ask", "Luban", "--corpus", "nowhere", "--no-update", "--json"])
    assert result.exit_code == 0 and "corpus folder not found" in result.stderr
    assert json.loads(result.stdout)["results"][0]["citation"]["verified"] is False


def test_the_scripts_own_usage_errors_are_one_line_too(real_project: Path) -> None:
    import subprocess
    import sys

    for args in (["ask", "-k", "abc", "q"], ["ask", "--bogus", "q"], ["nosuch"]):
        done = subprocess.run(
            [sys.executable, "-m", "kzqa", *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == errors.EXIT_USAGE, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("kzqa: error: ")
        assert "Traceback" not in done.stderr and done.stdout == ""
    done = subprocess.run(
        [sys.executable, "-m", "kzqa", "ask", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Usage: kzqa ask" in done.stdout


def test_the_update_ask_makes_says_what_it_skipped_once(real_project: Path) -> None:
    """A build warns about a file once: when `ask` is the build that meets it, `ask` says so
    (and the next `kzqa index` does not repeat it)."""
    (real_project / "corpus" / "data.txt").write_bytes(b"\x00\x01binary")
    asked = runner.invoke(app, ["ask", "How many Luban Workshops?"])
    assert asked.exit_code == 0
    assert "kzqa: warning: skipped data.txt: binary file" in asked.stderr
    indexed = runner.invoke(app, ["index"])
    assert indexed.exit_code == 0 and "data.txt" not in indexed.stderr


def test_status_says_a_cut_short_index_is_damaged_and_what_to_run(real_project: Path) -> None:
    gen = store.open_generation(real_project / "index")
    vectors = gen.folder / store.VECTORS
    vectors.write_bytes(vectors.read_bytes()[:3000])
    info = json.loads(run("status", "--json", code=0))
    assert info["up_to_date"] is False and "damaged" in info["damaged"]
    text = run("status", code=0)
    assert "Next: run `kzqa index --full`" in text and "up to date" not in text
    run("index", "--full", code=0)
    assert json.loads(run("status", "--json", code=0))["damaged"] is None
