"""The answer sentence: which sentence of a passage best answers the question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .records import Answer, Passage

if TYPE_CHECKING:
    import numpy as np

    from .embedding import OnnxEncoder

LEXICAL_WEIGHT = 1.0  # weight of the share of question terms in a sentence, beside its cosine


def choose_answers(
    question: str,
    query_vector: np.ndarray,
    passages: Sequence[Passage],
    encoder: OnnxEncoder,
    stored: Sequence[np.ndarray | None] = (),
) -> list[Answer]:
    """One answer sentence per passage: its cosine to the question plus term overlap.

    The sentence vectors are the index's (`stored`, one array per passage) when it has them;
    an index without them (built by an older kzqa, or by a model that gives none) has the
    encoder embed the sentences now.
    """
    import numpy as np

    from .lexical import content_stems

    spans = [p.sentence_spans() for p in passages]
    texts = [
        p.text[s - p.start_char : e - p.start_char]
        for p, ss in zip(passages, spans, strict=True)
        for s, e in ss
    ]
    found = [v for v in stored if v is not None]
    if not texts:
        vectors = None
    elif len(found) == len(passages):
        vectors = np.vstack(found)
    else:
        vectors = encoder.embed(texts)
    terms = content_stems(question)
    answers = []
    row = 0
    for p, ss in zip(passages, spans, strict=True):
        best, best_score = ss[0], float("-inf")
        for s, e in ss:
            score = float(vectors[row] @ query_vector) if vectors is not None else 0.0
            if terms:
                sentence_terms = content_stems(texts[row])
                score += LEXICAL_WEIGHT * len(terms & sentence_terms) / len(terms)
            if score > best_score:
                best, best_score = (s, e), score
            row += 1
        s, e = best
        answers.append(Answer(p.text[s - p.start_char : e - p.start_char], s, e))
    return answers
