"""Questions about a document itself are answered from its metadata (issue 14): the real
model on the real article, whose top passage reads "Published: Dec 04, 2025"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ask_json
from kzqa.cli import app
from kzqa.search.about import document_field

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
ARTICLE_QUESTIONS = ROOT / "bench" / "data" / "article-questions.tsv"
NEAR = ROOT / "bench" / "data" / "near"


@pytest.mark.parametrize(
    "question,field",
    [
        ("When was the article published?", "published"),
        ("What is the publication date?", "published"),
        ("what year was this report written", "published"),
        ("Who wrote the article?", "author"),
        ("Who is the author of this story?", "author"),
        ("What is the title of the article?", "title"),
        ("What's the headline?", "title"),
        # The document named by what it is about, as a user with many documents asks.
        ("Who wrote the water report?", "author"),
        ("Who is the author of the ports note?", "author"),
        ("What is the title of the falcon festival article?", "title"),
        # About the world, not about a document: the passages answer these.
        ("When was the first Luban Workshop opened?", None),
        ("Who wrote the novel War and Peace?", None),
        ("Who founded the Chinese university branch in Almaty?", None),
        ("What title does Shakhrat Nuryshev hold?", None),
        ("What is the name of the ambassador?", None),
    ],
)
def test_which_field_a_question_asks_for(question: str, field: str | None) -> None:
    assert document_field(question) == field


def test_no_question_of_the_benches_is_taken_for_one_about_the_document() -> None:
    lines = ARTICLE_QUESTIONS.read_text(encoding="utf-8").splitlines()[1:]
    questions = [line.split("\t")[-1] for line in lines]
    for path in NEAR.glob("*.txt"):
        questions += path.read_text(encoding="utf-8").splitlines()
    assert len(questions) > 100
    assert [q for q in questions if document_field(q)] == []


@pytest.mark.slow
def test_the_date_and_title_come_from_the_metadata(real_project: Path) -> None:
    out = ask_json("When was the article published?")
    assert out["answered"] is True and out["abstain_reason"] is None
    about = out["about_document"]
    assert about["field"] == "published" and about["value"] == "2025-12-04"
    assert about["source"] == out["results"][0]["citation"]["source"]
    assert "Published: Dec 04, 2025" in out["results"][0]["answer"]["text"]
    title = ask_json("What is the title of the article?")["about_document"]
    assert title["value"] == "Academic exchanges take stage in strengthening China-Kazakhstan ties"
    text = runner.invoke(app, ["ask", "When was the article published?", "--no-update"]).stdout
    assert "A: 2025-12-04 (the date corpus/academic-exchanges-china-kazakhstan.txt states)" in text


@pytest.mark.slow
def test_a_field_the_document_does_not_state_is_not_answered(real_project: Path) -> None:
    out = ask_json("Who wrote the article?")
    assert out["answered"] is False and "about_document" not in out
    assert out["abstain_reason"].endswith("does not state its author")
    assert out["results"], "the closest passages are still shown"


@pytest.mark.slow
def test_a_question_about_the_world_is_judged_by_its_passages(real_project: Path) -> None:
    out = ask_json("How many Luban Workshops has Kazakhstan hosted?")
    assert out["answered"] is True and "about_document" not in out
