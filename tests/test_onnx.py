"""The ONNX question encoder gives the vectors sentence-transformers gives (issue 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kzqa import store
from kzqa.config import load_config
from kzqa.embed.models import resolve_model
from kzqa.embed.onnx import OnnxEncoder
from kzqa.embed.torch import SentenceTransformerEmbedder
from kzqa.search import dense as ann

pytestmark = pytest.mark.slow

# The article's questions (the ones tests/test_e2e.py answers, and a few more), plus texts of
# other shapes: very short, very long (over the model's window), non-ASCII, mixed case.
QUESTIONS = [
    "How many Luban Workshops has Kazakhstan hosted?",
    "Which Chinese universities opened branches in Kazakhstan?",
    "Where was the Study in Kazakhstan education fair held?",
    "How many dual-degree programs have Kazakh universities launched?",
    "What did Kazakhstan declare 2025 to be?",
    "What did the heads of state agree to establish in June?",
    "How much has Kazakhstan increased its investment in education and science?",
    "Who is the ambassador of Kazakhstan to China?",
    "How many Kazakh students study in China?",
    "What is the capital of France?",
]
ODD_TEXTS = [
    "Luban",
    "Алматы — крупнейший город Казахстана; 哈萨克斯坦 is Kazakhstan in Chinese.",
    "WHAT did THE Heads OF State agree TO?",
    " ".join(["The university opened a new branch campus in Astana."] * 60),  # > 256 tokens
]


@pytest.fixture(scope="module")
def article(built_index: Path) -> tuple[store.Generation, OnnxEncoder, SentenceTransformerEmbedder]:
    cfg = load_config(None, built_index / "corpus", built_index / "index")
    generation = store.open_generation(cfg.index)
    assert generation is not None and generation.manifest.onnx
    onnx = OnnxEncoder(cfg.index / generation.manifest.onnx)
    reference = SentenceTransformerEmbedder(resolve_model(cfg.model))
    return generation, onnx, reference


def test_onnx_vectors_match_sentence_transformers(article) -> None:
    generation, onnx, reference = article
    passages = [p.text for p in generation.passages]
    sentences = [
        p.text[s - p.start_char : e - p.start_char]
        for p in generation.passages
        for s, e in p.sentences
    ]
    texts = QUESTIONS + ODD_TEXTS + passages + sentences
    got, want = onnx.embed(texts), reference.embed(texts)
    assert got.shape == want.shape == (len(texts), reference.dimension)
    cosines = np.sum(got * want, axis=1)  # both are normalized
    assert cosines.min() >= 0.9999, texts[int(cosines.argmin())]
    # The stored document vectors were made by sentence-transformers at build time.
    assert np.sum(onnx.embed(passages) * generation.vectors, axis=1).min() >= 0.9999


def test_onnx_is_independent_of_batching(article) -> None:
    _, onnx, _ = article
    texts = QUESTIONS + ODD_TEXTS
    together = onnx.embed(texts)
    alone = np.vstack([onnx.embed([t]) for t in texts])
    assert np.sum(together * alone, axis=1).min() >= 0.9999


def test_onnx_gives_the_same_top10_as_sentence_transformers(article) -> None:
    generation, onnx, reference = article
    got = ann.search(ann.open_dense(generation), onnx.embed(QUESTIONS), 10)
    want = ann.search(ann.open_dense(generation), reference.embed(QUESTIONS), 10)
    for question, g, w in zip(QUESTIONS, got, want, strict=True):
        assert len(g) == 10
        assert [i for i, _ in g] == [i for i, _ in w], question
        assert np.allclose([s for _, s in g], [s for _, s in w], atol=1e-4), question


def test_onnx_encoder_refuses_a_folder_without_an_export(tmp_path: Path) -> None:
    from kzqa.errors import ModelError

    with pytest.raises(ModelError):
        OnnxEncoder(tmp_path)


def test_sentence_vectors_match_sentence_transformers_and_the_index(article) -> None:
    """Sentence vectors pooled from the passage's tokens: the same through ONNX Runtime as
    through torch, equal to the stored ones, and each a unit vector near its passage's."""
    generation, onnx, reference = article
    passages = generation.passages
    texts = [p.text for p in passages] + ODD_TEXTS[-1:]  # and one past the model's window
    spans = [p.relative_spans() for p in passages] + [[(0, 52), (53, 105), (3000, 3052)]]
    got_vectors, got = onnx.embed_passages(texts, spans)
    want_vectors, want = reference.embed_passages(texts, spans)
    assert np.sum(got_vectors * want_vectors, axis=1).min() >= 0.9999
    for g, w, ss in zip(got, want, spans, strict=True):
        assert g.shape == w.shape == (len(ss), reference.dimension)
        assert np.sum(g * w, axis=1).min() >= 0.9999
        assert np.allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-5)
    for row, p in enumerate(passages):
        stored = generation.sentence_vectors(row)
        assert stored is not None and stored.shape == (len(p.sentence_spans()), 384)
        assert np.sum(stored * want[row], axis=1).min() >= 0.999  # float16 on disk
        assert (stored @ generation.vectors[row]).min() > 0.3  # a sentence is about its passage
    # A sentence past the window has no tokens: it stands in with the whole passage's vector.
    assert np.allclose(got[-1][2], got_vectors[-1], atol=1e-5)
    assert not np.allclose(got[-1][0], got_vectors[-1], atol=1e-3)


def test_int8_question_encoder_finds_what_the_full_one_finds(article, built_index) -> None:
    """The build adds the export's int8 graph; questions embedded by it point where the full
    graph's point (cosine >= 0.97) and find the same passages first."""
    generation, onnx, _ = article
    export = built_index / "index" / str(generation.manifest.onnx)
    small = OnnxEncoder(export, precision="int8")
    assert small.precision == "int8" and onnx.precision == "float32"
    full_vectors, small_vectors = onnx.embed(QUESTIONS), small.embed(QUESTIONS)
    # Its activations are scaled per call: each question is embedded alone, whatever it is
    # asked with, so `kzqa eval` scores the vectors `kzqa ask` uses.
    assert np.array_equal(small_vectors, np.vstack([small.embed([q]) for q in QUESTIONS]))
    cosines = np.sum(full_vectors * small_vectors, axis=1)
    assert cosines.min() >= 0.97 and cosines.max() < 0.99999  # near, yet not the same graph
    index = ann.open_dense(generation)
    got = ann.search(index, small_vectors, 3)
    want = ann.search(index, full_vectors, 3)
    for question, g, w in list(zip(QUESTIONS, got, want, strict=True))[:-1]:  # not off-topic
        assert g[0][0] == w[0][0], question


def test_an_export_without_int8_gains_it_without_re_embedding(real_project: Path) -> None:
    """An index made by a kzqa before the int8 graph: questions run at full precision until
    the next `kzqa index`, which adds the graph and embeds nothing; verify then checks it."""
    import json

    from kzqa.build import build_index
    from kzqa.embed.onnx import QUANTIZED
    from kzqa.ops.verify import verify_index
    from kzqa.search import Searcher

    cfg = load_config(None)
    manifest = store.read_manifest(cfg.index)
    assert manifest is not None and manifest.onnx
    export = cfg.index / manifest.onnx
    meta = json.loads((export / "onnx.json").read_text())
    del meta["sha256"][QUANTIZED]
    (export / "onnx.json").write_text(json.dumps(meta))
    (export / QUANTIZED).unlink()
    assert Searcher.open(cfg).encoder.precision == "float32"
    report = build_index(cfg)
    assert report.passages_embedded == 0
    assert Searcher.open(cfg).encoder.precision == "int8"
    assert verify_index(cfg) == []
    with (export / QUANTIZED).open("r+b") as fh:  # same size, other bytes
        fh.seek(1000)
        fh.write(b"\x00" * 64)
    assert any(QUANTIZED in problem for problem in verify_index(cfg))
