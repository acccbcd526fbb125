"""`kzqa read`: a citation's span read back from the file, by any name a citation gives it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kzqa import errors
from kzqa.api import read_span
from kzqa.build import build_index
from kzqa.cli import app
from kzqa.config import Config

runner = CliRunner()
NAME = "academic-exchanges-china-kazakhstan.txt"
SENTENCE = "In addition, Kazakhstan has hosted three Luban Workshops"


@pytest.fixture
def indexed(cfg: Config, fake_embedder) -> Config:
    (cfg.corpus / "page.html").write_text(
        "<html><head><title>Page</title></head><body><p>Alpha &amp; beta.</p>"
        "<p>Gamma delta.</p></body></html>",
        encoding="utf-8",
    )
    build_index(cfg, embedder=fake_embedder)
    return cfg


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result.stdout if code == 0 else result.stderr


def test_read_prints_the_span_by_any_name_a_citation_gives(indexed: Config) -> None:
    text = (indexed.corpus / NAME).read_text(encoding="utf-8")
    start = text.index(SENTENCE)
    end = start + len(SENTENCE)
    for source in (NAME, f"corpus/{NAME}", str((indexed.corpus / NAME).resolve())):
        span = json.loads(run("read", source, str(start), str(end), "--json"))
        assert span["source"] == f"corpus/{NAME}"
        assert span["text"] == text[start:end] == SENTENCE
        assert (span["before"], span["after"]) == ("", "")
        assert span["verified"] is True
        assert span["offsets"] == "file_text"
        assert span["start_line"] == span["end_line"] == text[:start].count("\n") + 1
    out = run("read", NAME, str(start), str(end), "--context", "20")
    head, body = out.split("\n", 1)
    assert head == f"corpus/{NAME}:{text[:start].count(chr(10)) + 1}  chars {start}-{end}"
    assert body == f"{text[start - 20 : start]}**{SENTENCE}**{text[end : end + 20]}\n"


def test_read_context_stops_at_the_file_edges(indexed: Config) -> None:
    text = (indexed.corpus / NAME).read_text(encoding="utf-8")
    span = read_span(indexed, NAME, 0, 5, context=50)
    assert (span["before"], span["text"], span["after"]) == ("", text[:5], text[5:55])
    span = read_span(indexed, NAME, len(text) - 3, len(text), context=10**6)
    assert span["before"] == text[:-3] and span["after"] == ""


def test_read_without_a_span_gives_the_whole_text(indexed: Config) -> None:
    text = (indexed.corpus / NAME).read_text(encoding="utf-8")
    span = json.loads(run("read", NAME, "--json"))
    assert (span["start_char"], span["end_char"], span["text"]) == (0, len(text), text)
    assert (span["start_line"], span["end_line"]) == (1, len(text.splitlines()))
    start = text.index(SENTENCE)
    assert json.loads(run("read", NAME, str(start), "--json"))["text"] == text[start:]
    assert run("read", NAME).split("\n", 1)[1] == text + "\n"  # the output ends its line
    past = run("read", NAME, str(len(text)), code=errors.EXIT_USAGE)
    assert f"the span from {len(text)} is past the end of corpus/{NAME}" in past


def test_read_gives_a_word_files_paragraphs(cfg: Config, fake_embedder) -> None:
    from test_formats import make_docx

    make_docx(cfg.corpus / "r.docx")
    build_index(cfg, embedder=fake_embedder)
    whole = json.loads(run("read", "r.docx", "--json"))
    text = whole["text"]
    start = text.index("The eastern basin")
    span = json.loads(run("read", "r.docx", str(start), str(len(text)), "--json"))
    # Blocks are separated by a blank line: the heading, its paragraph, the table's two rows,
    # the second heading, then the paragraph with a line break inside it (one paragraph).
    assert (span["paragraph"], span["end_paragraph"]) == (6, 6)
    assert (whole["paragraph"], whole["end_paragraph"]) == (1, 6)
    assert "paragraph 6" in run("read", "r.docx", str(start), str(len(text)))


def test_read_html_offsets_are_in_the_extracted_text(indexed: Config) -> None:
    span = json.loads(run("read", "page.html", "0", "12", "--json"))
    assert span["text"] == "Alpha & beta"
    assert span["offsets"] == "extracted_text"


def test_a_changed_file_is_read_but_not_verified(indexed: Config) -> None:
    path = indexed.corpus / NAME
    path.write_text("Rewritten. " + path.read_text(encoding="utf-8"), encoding="utf-8")
    span = json.loads(run("read", NAME, "0", "10", "--json"))
    assert span["text"] == "Rewritten."
    assert span["verified"] is False
    assert "CHANGED" in run("read", NAME, "0", "10")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["new.txt", "0", "3"], errors.EXIT_USAGE, "new.txt is not an indexed file"),
        ([f"../corpus/{NAME}", "0", "3"], errors.EXIT_USAGE, "is not an indexed file"),
        (["/etc/passwd", "0", "3"], errors.EXIT_USAGE, "/etc/passwd is not an indexed file"),
        ([NAME, "5", "5"], errors.EXIT_USAGE, "the span is empty: start (5) must be below end"),
        ([NAME, "9", "4"], errors.EXIT_USAGE, "the span is empty"),
        ([NAME, "0", "999999"], errors.EXIT_USAGE, "past the end of corpus/"),
        ([NAME, "--", "-1", "4"], errors.EXIT_USAGE, "must be 0 or more"),
        ([NAME, "0", "4", "--context", "-1"], errors.EXIT_USAGE, "must be 0 or more"),
    ],
)
def test_read_errors_exit_with_their_code(
    indexed: Config, args: list[str], code: int, message: str
) -> None:
    (indexed.corpus / "new.txt").write_text("Added after the build.\n")  # not indexed yet
    err = run("read", *args, code=code)
    line = next(ln for ln in err.splitlines() if ln.startswith("kzqa: error: "))
    assert message in line


def test_read_without_an_index_or_its_file(indexed: Config) -> None:
    assert "no index in" in run("read", NAME, "0", "4", "--index", "none", code=errors.EXIT_INDEX)
    (indexed.corpus / NAME).unlink()
    assert f"cannot read corpus/{NAME}" in run("read", NAME, "0", "4", code=errors.EXIT_CORPUS)
