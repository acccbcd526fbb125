"""The answer: which sentence of a passage answers, and how sure kzqa is that it does."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from ..records import Answer, Passage
from .lexical import content_stems

if TYPE_CHECKING:
    import numpy as np

LEXICAL_WEIGHT = 1.0  # weight of the share of question terms in a sentence, beside its cosine
# Abstention (calibrated in bench/: see BENCHMARKS.md): a passage that holds the question's
# terms and is close in meaning is worth more than either alone.
COVERAGE_WEIGHT = 0.5
# ... and a question that names what the documents never mention (“How many Luban Workshops
# does Thailand have?”) is not answered by a passage on the rest of it. Tuned on the even
# halves of bench/data/near/ with the own queries: 2.0 abstains on 73% of the article's
# near-topic questions and keeps COVID-QA and SciFact answered-recall >= 0.95 (BENCHMARKS.md).
UNKNOWN_WEIGHT = 2.0
MAX_NAMED = 3  # unknown words an abstention names


def choose_answers(
    question: str,
    query_vector: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
) -> list[Answer]:
    """One answer sentence per passage: its cosine to the question plus term overlap.

    `sentence_vectors[i]` holds the stored vectors of passages[i]'s sentences, in order.
    """
    terms = content_stems(question)
    answers = []
    for p, vectors in zip(passages, sentence_vectors, strict=True):
        spans = p.sentence_spans()
        cosines = (vectors @ query_vector).tolist()
        best, best_score = spans[0], float("-inf")
        for (s, e), cosine in zip(spans, cosines, strict=True):
            score = cosine
            if terms:
                found = terms & content_stems(p.text[s - p.start_char : e - p.start_char])
                score += LEXICAL_WEIGHT * len(found) / len(terms)
            if score > best_score:
                best, best_score = (s, e), score
        s, e = best
        answers.append(Answer(p.text[s - p.start_char : e - p.start_char], s, e))
    return answers


def confidence(
    question_terms: Collection[str], passage: str, cosine: float, unknown: int = 0
) -> float:
    """How sure kzqa is that a passage answers: its cosine plus the question terms it holds,
    less the terms no document holds.

    cosine + COVERAGE_WEIGHT x (share of the question's content terms found in the passage)
    - UNKNOWN_WEIGHT x (share of them the corpus never mentions, `unknown` of them). The terms
    leave out question words (lexical.question_terms). Unlike the fused score (relative to the
    other candidates of the same question), it is comparable across questions, so one
    threshold (search.min_score) decides abstention.
    """
    if not question_terms:
        return cosine
    terms = set(question_terms)
    found = len(terms & content_stems(passage)) / len(terms)
    return cosine + COVERAGE_WEIGHT * found - UNKNOWN_WEIGHT * unknown / len(terms)


def abstain_reason(
    unknown_words: Sequence[str], held: int, terms: int, top: float, min_score: float
) -> str:
    """Why a question was not answered, in words for its asker."""
    if unknown_words:
        named = list(dict.fromkeys(unknown_words))[:MAX_NAMED]
        words = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
        return f"the documents never mention {words}"
    held_part = f"holds {held} of the question's {terms} terms and " if terms else ""
    return (
        f"the closest passage {held_part}is not close enough in meaning "
        f"(confidence {top:.2f}, below min_score {min_score:.2f})"
    )
