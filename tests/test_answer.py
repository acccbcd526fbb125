"""The answer sentence and the confidence behind abstention, with the fake embedder."""

from __future__ import annotations

import pytest

from kzqa.chunking import split_sentences
from kzqa.records import Passage, text_hash
from kzqa.search.answer import COVERAGE_WEIGHT, choose_answers, confidence
from kzqa.search.lexical import content_stems


def passage(text: str, start: int = 100) -> Passage:
    sentences = tuple((s + start, e + start) for s, e in split_sentences(text))
    return Passage("a.txt", start, start + len(text), 1, 1, text, sentences, text_hash(text))


def stored(embedder, p: Passage):
    """The sentence vectors a build would store for p."""
    return embedder.embed_passages([p.text], [p.relative_spans()])[1][0]


def test_the_sentence_with_the_questions_terms_is_the_answer(fake_embedder) -> None:
    text = (
        "The embassy hosted a reception in Beijing. "
        "Kazakhstan has hosted three Luban Workshops, more than any other country. "
        "Students gained access to modern equipment."
    )
    p = passage(text)
    question = "How many Luban Workshops has Kazakhstan hosted?"
    qvec = fake_embedder.embed([question])[0]
    (answer,) = choose_answers(question, qvec, [p], [stored(fake_embedder, p)])
    assert answer.text.startswith("Kazakhstan has hosted three Luban Workshops")
    # Offsets are absolute: they slice the document the passage came from.
    document = " " * 100 + text
    assert document[answer.start_char : answer.end_char] == answer.text


def test_a_passage_without_sentences_answers_with_itself(fake_embedder) -> None:
    p = Passage("a.txt", 0, 5, 1, 1, "Hello", (), text_hash("Hello"))
    qvec = fake_embedder.embed(["hello?"])[0]
    (answer,) = choose_answers("hello?", qvec, [p], [stored(fake_embedder, p)])
    assert (answer.text, answer.start_char, answer.end_char) == ("Hello", 0, 5)


def test_confidence_adds_the_share_of_question_terms_found() -> None:
    terms = content_stems("the education fair was held")
    assert terms == {"educ", "fair", "held"}
    text = "The education fair was held in Urumqi."
    assert confidence(terms, text, 0.4) == pytest.approx(0.4 + COVERAGE_WEIGHT)
    assert confidence(terms, "An education in Urumqi.", 0.4) == pytest.approx(
        0.4 + COVERAGE_WEIGHT / 3
    )
    assert confidence(set(), text, 0.4) == 0.4  # a question of stopwords: the cosine alone
