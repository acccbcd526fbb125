"""The answer: which sentence of a passage answers, and how sure kzqa is that it does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..records import Answer, Passage
from .lexical import content_stems

if TYPE_CHECKING:
    import numpy as np

LEXICAL_WEIGHT = 1.0  # weight of the share of question terms in a sentence, beside its cosine
# Abstention (calibrated in bench/: see BENCHMARKS.md): a passage that holds the question's
# terms and is close in meaning is worth more than either alone.
COVERAGE_WEIGHT = 0.5


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


def confidence(question_terms: set[str], passage: str, cosine: float) -> float:
    """How sure kzqa is that a passage answers: its cosine plus the question terms it holds.

    cosine + COVERAGE_WEIGHT x (share of the question's content terms found in the passage).
    Unlike the fused score (relative to the other candidates of the same question), it is
    comparable across questions, so one threshold (search.min_score) decides abstention.
    """
    if not question_terms:
        return cosine
    found = len(question_terms & content_stems(passage)) / len(question_terms)
    return cosine + COVERAGE_WEIGHT * found
