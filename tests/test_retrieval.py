"""The dense leg's best-sentence evidence (search.sentence_weight), and the hybrid ranking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import ARTICLE
from kzqa.build import build_index
from kzqa.config import Config, load_config
from kzqa.search.searcher import Candidates, Searcher

QUESTION = "Where was the Study in Kazakhstan education fair held?"


def test_the_dense_score_adds_the_best_sentence_cosine() -> None:
    found = Candidates({1: 0.5, 2: 0.4}, {}, {1: 0.2, 2: 0.9})
    assert found.score_dense(0.5) == pytest.approx({1: 0.6, 2: 0.85})
    assert found.score_dense(0.0) == {1: 0.5, 2: 0.4}
    assert Candidates({1: 0.5}, {}).score_dense(0.5) == {1: 0.5}  # no sentence vectors


def test_best_sentences_are_the_max_of_the_stored_sentence_cosines(real_project: Path) -> None:
    searcher = Searcher.open(load_config())
    gen = searcher.generation
    qvec = searcher.embed_question(QUESTION)
    rows = list(range(len(gen.passages)))[::-1]  # any order
    best = searcher.match_sentences(rows, qvec)
    assert sorted(best) == sorted(rows)
    assert gen.sentence_rows is not None
    vectors = np.asarray(gen.sentence_rows[0], dtype=np.float32)
    first = 0  # each passage's sentences, counted here from its spans
    for row, p in enumerate(gen.passages):
        mine = vectors[first : first + len(p.sentence_spans())]
        first += len(p.sentence_spans())
        assert best[row] == pytest.approx(float((mine @ qvec).max()), abs=1e-6)
    assert first == len(vectors)
    # The max is over several sentences somewhere, not only one-sentence passages.
    assert any(len(gen.sentence_vectors(r)) > 1 for r in rows)


def test_the_sentence_evidence_reorders_only_the_dense_leg(real_project: Path) -> None:
    cfg = load_config()
    searcher = Searcher.open(cfg)
    qvec = searcher.embed_question(QUESTION)
    found = searcher.candidates([QUESTION], qvec[None, :], 100, "hybrid")[0]
    assert found.sentence and set(found.sentence) == set(found.dense)
    off = Searcher(replace(cfg, sentence_weight=0.0), searcher.generation, searcher.encoder)
    assert off.candidates([QUESTION], qvec[None, :], 100, "hybrid")[0].sentence == {}
    by_cosine = [row for row, _ in off.rank(found, "dense")]
    with_sentences = [row for row, _ in searcher.rank(found, "dense")]
    combined = {i: d + cfg.sentence_weight * found.sentence[i] for i, d in found.dense.items()}
    assert with_sentences == sorted(combined, key=lambda i: (-combined[i], i))
    assert by_cosine == sorted(found.dense, key=lambda i: (-found.dense[i], i))
    assert with_sentences != by_cosine  # the article's passages are uneven enough to move
    # The JSON evidence stays the passage's cosine, whatever the weight.
    hit = searcher.search(QUESTION, 1).hits[0]
    row = searcher.generation.passages.index(hit.passage)
    assert hit.scores["dense"] == pytest.approx(found.dense[row], abs=1e-4)


NOTES = (
    "Almaty was the capital of Kazakhstan until 1997, when the government moved north to "
    "Astana. The city still hosts the largest universities and most of the foreign "
    "consulates of the country.\n\n"
    "Shymkent lies in the south of Kazakhstan near the border with Uzbekistan. It is the "
    "third largest city and a centre of trade with Central Asian neighbours since the Silk "
    "Road.\n\n"
    "The Kazakh steppe is crossed by rail lines built for trade with China. Engineering "
    "students from both countries train together in workshops on railway technologies.\n"
)
HYBRID_QUESTIONS = [
    "How many Luban Workshops has Kazakhstan hosted?",
    QUESTION,
    "Which city was the capital of Kazakhstan before Astana?",
    "Where do engineering students train on railway technologies?",
    "Which universities opened branches in Kazakhstan?",
]


def standardized(xs: np.ndarray) -> np.ndarray:
    sd = xs.std()  # the population deviation; a constant leg counts as deviation 1
    return (xs - xs.mean()) / (sd or 1.0)


def oracle(
    searcher: Searcher,
    question: str,
    sentence_weight: float,
    dense_weight: float,
    neighbour_weight: float,
) -> list[tuple[int, float]]:
    """The hybrid ranking as the config documents it, from first principles: every passage is
    a candidate (the corpus is smaller than the pool); its dense score is its cosine plus
    sentence_weight x its best sentence's cosine; its BM25 score 0 where BM25 found nothing
    (BM25 found every match); both legs standardized and mixed by dense_weight; then each
    passage gains neighbour_weight x (its better same-file neighbour's fused score - the
    lowest fused score)."""
    gen = searcher.generation
    passages = gen.passages
    q = searcher.encoder.embed_queries([question])[0]
    cosine = np.array([float(v @ q) for v in gen.vectors])
    best = np.array([float((gen.sentence_vectors(i) @ q).max()) for i in range(len(passages))])
    bm25 = dict(searcher.lexical.search(question, len(passages)))
    lexical = np.array([bm25.get(i, 0.0) for i in range(len(passages))])
    fused = dense_weight * standardized(cosine + sentence_weight * best) + (
        1 - dense_weight
    ) * standardized(lexical)
    floor = fused.min()
    final = []
    for i, p in enumerate(passages):
        beside = [
            fused[j]
            for j in (i - 1, i + 1)
            if 0 <= j < len(passages) and passages[j].path == p.path
        ]
        final.append((i, float(fused[i] + neighbour_weight * (max(beside, default=floor) - floor))))
    return sorted(final, key=lambda rs: (-rs[1], rs[0]))


def test_the_hybrid_ranking_is_zscore_fusion_with_sentences_and_neighbours(
    cfg: Config, fake_embedder
) -> None:
    (cfg.corpus / "notes.txt").write_text(NOTES, encoding="utf-8")
    build_index(cfg, embedder=fake_embedder)
    searcher = Searcher.open(cfg, encoder=fake_embedder)
    passages = searcher.generation.passages
    assert len(passages) < cfg.candidates
    assert {p.path for p in passages} == {ARTICLE.name, "notes.txt"}
    assert cfg.fusion == "zscore" and cfg.mode == "hybrid"
    weights = (cfg.sentence_weight, cfg.dense_weight, cfg.neighbour_weight)
    assert all(0 < w < 1 for w in weights)
    miswired = {  # what a ranking that dropped or swapped one part would be
        "no sentence evidence": (0.0, cfg.dense_weight, cfg.neighbour_weight),
        "dense only": (cfg.sentence_weight, 1.0, cfg.neighbour_weight),
        "bm25 only": (cfg.sentence_weight, 0.0, cfg.neighbour_weight),
        "weights swapped": (cfg.sentence_weight, 1 - cfg.dense_weight, cfg.neighbour_weight),
        "no neighbours": (cfg.sentence_weight, cfg.dense_weight, 0.0),
    }
    caught: set[str] = set()
    for question in HYBRID_QUESTIONS:
        want = oracle(searcher, question, *weights)
        got = searcher.rank_many([question], len(passages))[0]
        assert [row for row, _ in got] == [row for row, _ in want], question
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-4)
        top = searcher.search(question, 1).hits[0]
        assert top.passage == passages[want[0][0]]
        assert top.score == pytest.approx(want[0][1], abs=1e-3)
        for name, other in miswired.items():
            if [r for r, _ in oracle(searcher, question, *other)] != [r for r, _ in want]:
                caught.add(name)
    assert caught == set(miswired)  # each of those mistakes changes some ranking here


@pytest.mark.parametrize(
    ("question", "answer"),
    [("Hong Kong", "City University of Hong Kong"), ("Uzbekistan", "China, India and Uzbekistan")],
)
def test_a_name_only_bm25_finds_still_comes_first_in_hybrid(
    real_project: Path, question: str, answer: str
) -> None:
    """A bare name the model does not place (its dense top passage is another) but the article
    holds once: the lexical leg carries it to the top of the fused ranking."""
    searcher = Searcher.open(load_config())
    passages = searcher.generation.passages
    assert sum(answer in p.text for p in passages) == 1

    def top(mode: str) -> str:
        return passages[searcher.rank_many([question], 5, mode)[0][0][0]].text

    assert answer not in top("dense")
    assert answer in top("bm25")
    assert answer in top("hybrid")
    assert answer in searcher.search(question, 1).hits[0].passage.text


def test_an_extracted_file_is_checked_by_its_bytes_a_text_file_by_reading_it(
    tmp_path: Path, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import shutil

    from kzqa.search import cite
    from kzqa.store import open_generation

    pages = Path(__file__).parent / "fixtures" / "pages"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    page = corpus / "balkhash.html"
    shutil.copy(pages / "news-balkhash.html", page)
    notes = corpus / "notes.txt"
    notes.write_text("  Lake Balkhash is fed mostly by the Ili River.\n")  # indented
    cfg = load_config(None, corpus, tmp_path / "index")
    build_index(cfg, embedder=fake_embedder)
    reads: list[str] = []
    real_read = cite.read_file
    monkeypatch.setattr(
        cite, "read_file", lambda root, path: reads.append(path) or real_read(root, path)
    )

    def cited(path: str) -> tuple[bool, int, int]:
        """The first hit from `path` for a question on the lake, asked of a new searcher (no
        kept texts): verified?, its column, and how often the question read the file."""
        generation = open_generation(cfg.index)
        assert generation is not None
        reads.clear()
        hits = Searcher(cfg, generation, fake_embedder).search("Balkhash Ili River", 10).hits
        hit = next(h for h in hits if h.passage.path == path)
        return hit.source.verified, hit.answer.start_col, reads.count(path)

    # The page's bytes are those indexed: verified without extracting it again (and its
    # column, which would count characters of the extracted text, is not looked for). The
    # text file is read and compared, and its column found.
    assert cited("balkhash.html") == (True, 0, 0)
    assert cited("notes.txt") == (True, 3, 1)

    # Touched (a new time, the same bytes): still no extraction.
    stat = page.stat()
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cited("balkhash.html") == (True, 0, 0)

    # Edited to the same size, the time put back (what `kzqa index` cannot see): both flagged.
    for path, old, new in (
        (notes, b"fed mostly", b"fed mainly"),
        (page, b"Ili River", b"Ili Rover"),
    ):
        stat = path.stat()
        path.write_bytes(path.read_bytes().replace(old, new))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cited("notes.txt")[:2] == (False, 0)
    assert cited("balkhash.html")[::2] == (False, 1)  # extracted again, and compared


def test_a_searcher_that_kept_a_files_text_still_sees_it_edited(
    tmp_path: Path, fake_embedder
) -> None:
    """A server keeps cited texts and digests across questions (search.cite.FileTexts): an
    edit that puts the file's size and time back must still be seen (its change time and
    inode are part of what is kept)."""
    import os

    from kzqa.store import open_generation

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    notes = corpus / "notes.txt"
    notes.write_text("Lake Balkhash is fed mostly by the Ili River.\n")
    cfg = load_config(None, corpus, tmp_path / "index")
    build_index(cfg, embedder=fake_embedder)
    generation = open_generation(cfg.index)
    assert generation is not None
    searcher = Searcher(cfg, generation, fake_embedder)  # one, as a server holds it

    def verified() -> bool:
        (hit,) = searcher.search("Balkhash Ili River", 1).hits
        return hit.source.verified

    assert verified()
    stat = notes.stat()
    notes.write_text("Lake Balkhash is fed mainly by the Ili River.\n")
    os.utime(notes, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert notes.stat().st_size == stat.st_size
    assert not verified()
