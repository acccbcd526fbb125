"""Text output people can read: it fits the terminal, citations open where they point, and a
short list or a cut question is said (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kzqa.cli import app
from kzqa.records import Answer, AskResult, Hit, Passage, Source
from kzqa.render import ask_json, ask_text

runner = CliRunner()
LUBAN = "How many Luban Workshops has Kazakhstan hosted?"


def ask(*args: str, columns: int | None = None) -> tuple[str, str]:
    env = {"COLUMNS": str(columns)} if columns else {}
    result = runner.invoke(app, ["ask", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


@pytest.mark.parametrize("columns", [60, 100])
def test_text_fits_the_terminal(real_project: Path, columns: int) -> None:
    out, _ = ask(LUBAN, columns=columns)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert lines[1].startswith("A: In addition, Kazakhstan has hosted three")
    assert lines[2].startswith("   ")  # the answer goes on, indented under it


def test_width_is_80_when_not_known(real_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out, _ = ask(LUBAN)  # CliRunner's stdout is not a terminal
    assert max(len(line) for line in out.splitlines()) <= 80
    assert any(len(line) > 70 for line in out.splitlines())


def test_a_long_question_is_cut_and_the_user_told_the_model_read_its_start(
    real_project: Path,
) -> None:
    question = " ".join([LUBAN] * 60)
    out, err = ask(question, "-k", "1", columns=80)
    q_lines = out.split("\nA: ")[0].split("\nNo passage")[0].splitlines()
    assert len(q_lines) <= 3 and q_lines[-1].endswith("…")
    assert "the dense model read only its first 254" in err and "BM25 read all of it" in err
    data = json.loads(ask(question, "-k", "1", "--json")[0])
    assert data["question"] == question  # JSON keeps it whole
    assert "the dense model read only its first" in data["notes"][0]


def test_the_citation_is_the_answer_sentences_file_line_col(real_project: Path) -> None:
    out, _ = ask("Who is the ambassador of Kazakhstan to China?", "-k", "3", columns=200)
    data = json.loads(ask("Who is the ambassador of Kazakhstan to China?", "-k", "3", "--json")[0])
    text = Path("corpus/academic-exchanges-china-kazakhstan.txt").read_text(encoding="utf-8")
    for rank, hit in enumerate(data["results"], 1):
        a = hit["answer"]
        line = text.count("\n", 0, a["start_char"]) + 1
        col = a["start_char"] - text.rfind("\n", 0, a["start_char"])
        assert (a["start_line"], a["end_line"]) == (
            line,
            text.count("\n", 0, a["end_char"] - 1) + 1,
        )
        lines = text.splitlines()
        assert lines[line - 1][col - 1 :].startswith(a["text"][:20])
        assert f"{rank}. {hit['citation']['source']}:{line}:{col}  score" in out


def test_fewer_results_than_asked_is_said(real_project: Path) -> None:
    out, _ = ask("Luban", "--mode", "bm25", "-k", "10")
    data = json.loads(ask("Luban", "--mode", "bm25", "-k", "10", "--json")[0])
    n = len(data["results"])
    assert 0 < n < 10
    assert data["fewer"] == {"asked": 10, "repeats": 0}
    assert f"only {n} passages match" in out
    assert "fewer" not in json.loads(ask(LUBAN, "-k", "2", "--json")[0])


def _hit(path: str, kind: str = "text") -> Hit:
    p = Passage(path, 10, 40, 3, 5, "Tickets\n\nTickets cost ten dollars.")
    a = Answer("Tickets cost ten dollars.", 19, 40, 5, 1, 5)
    return Hit(p, 1.0, a, Source("Expo", None, kind, True), {"dense": 0.5})


def test_repeats_are_said_and_a_path_with_a_space_is_quoted(tmp_path: Path) -> None:
    result = AskResult("q?", True, [_hit("my page.html", "html")], k=3, repeats=2)
    out = ask_text(result, tmp_path, width=80)
    assert "1 of 3: the others repeat these" in out
    assert f"1. '{tmp_path / 'my page.html'}:5:1'" in out
    assert "lines and chars of the extracted text" in out
    assert ask_json(result, tmp_path)["fewer"] == {"asked": 3, "repeats": 2}


def test_colour_marks_the_answer_across_wrapped_lines(tmp_path: Path) -> None:
    words = " ".join(f"word{i}" for i in range(40))
    p = Passage("a.txt", 0, len(words) + 1 + 30, 1, 1, f"{words} The answer sentence is here.")
    start = len(words) + 1
    hit = Hit(
        p,
        1.0,
        Answer("The answer sentence is here.", start, start + 28, 1, start + 1, 1),
        Source(None, None, "text", True),
    )
    out = ask_text(AskResult("q?", True, [hit]), tmp_path, color=True, width=50)
    assert "\033[1;33mThe answer sentence is here.\033[0m" in out.replace("\n   ", " ")


def test_index_summary_names_the_files_and_watch_lines_say_when(
    real_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    from kzqa.ops import watch

    corpus = real_project / "corpus"
    for i in range(5):
        (corpus / f"n{i}.txt").write_text(f"Note {i} about Almaty.\n", encoding="utf-8")
    article = next(corpus.glob("academic-*.txt"))
    article.rename(corpus / "article.txt")

    def one_cycle(cfg, on_change, stop=lambda: False) -> None:
        (corpus / "n0.txt").unlink()
        on_change()

    monkeypatch.setattr(watch, "watch_corpus", one_cycle)
    result = runner.invoke(app, ["index", "--watch"])
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d indexed 6 documents", first)
    assert "5 added (n0.txt, n1.txt, n2.txt and 2 more)" in first
    assert f"1 renamed ({article.name} -> article.txt)" in first
    assert "1 removed (n0.txt)" in second and "5 unchanged" in second


def test_the_closest_quote_fits_too(real_project: Path) -> None:
    out, _ = ask("How many Luban Workshops does Thailand have?", "-k", "1", columns=60)
    assert "answers this confidently. The closest, at" in " ".join(out.split())
    assert "\ncorpus/academic-exchanges-china-kazakhstan.txt:17:1, says:\n" in out
    assert "   In addition, Kazakhstan has hosted three Luban" in out
    assert max(len(line) for line in out.splitlines()) <= 60
