"""ann.py: the index type follows the corpus size; each kind agrees with exact NumPy search."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kzqa.config import Config, load_config
from kzqa.errors import ConfigError
from kzqa.search import dense as ann

DIM = 384


def clustered(n: int, seed: int, centres: int = 50) -> np.ndarray:
    """Normalized points around random centres: neighbourhoods like a real corpus's."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(0).standard_normal((centres, DIM)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    noise = 0.04 * rng.standard_normal((n, DIM), dtype=np.float32)  # cosine to centre ~0.8
    points = base[rng.integers(0, centres, n)] + noise
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    scores = queries @ vectors.T
    return [list(np.argsort(-row, kind="stable")[:k]) for row in scores]


def recall(index: object, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    got = ann.search(index, queries, k)
    want = exact_top(vectors, queries, k)
    return float(
        np.mean([len({i for i, _ in g} & set(w)) / k for g, w in zip(got, want, strict=True)])
    )


def test_flat_equals_numpy_brute_force() -> None:
    vectors, queries = clustered(2_000, 1), clustered(20, 2)
    index = ann.build(vectors, ann.IndexParams("flat"))
    for q, found, want in zip(
        queries, ann.search(index, queries, 10), exact_top(vectors, queries, 10), strict=True
    ):
        assert [i for i, _ in found] == want
        assert np.allclose([s for _, s in found], vectors[want] @ q, atol=1e-5)


def test_numpy_exact_search_equals_faiss_flat() -> None:
    vectors, queries = clustered(3_000, 3), clustered(25, 4)
    index = ann.build(vectors, ann.IndexParams("flat"))
    for k in (1, 10, 3_000, 5_000):
        ours, theirs = ann.search_exact(vectors, queries, k), ann.search(index, queries, k)
        for a, b in zip(ours, theirs, strict=True):
            assert len(a) == min(k, 3_000) and {i for i, _ in a} == {i for i, _ in b}
            assert [i for i, _ in a[:10]] == [i for i, _ in b[:10]]  # deeper: float ties
            assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5)
    assert ann.search_exact(vectors[:0], queries, 5) == [[]] * len(queries)


def test_top_k_breaks_ties_by_row_as_every_ranking_does() -> None:
    from kzqa.records import best_first

    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1, 0.5], dtype=np.float32)
    assert ann.top_k(scores, 6) == best_first(enumerate(scores.tolist()))
    high = float(np.float32(0.9))
    assert ann.top_k(scores, 6)[:3] == [(1, high), (3, high), (0, 0.5)]
    assert ann.top_k(scores, 2) == [(1, high), (3, high)]


def test_search_never_asks_for_more_than_the_index_holds() -> None:
    vectors = clustered(3, 1)
    index = ann.build(vectors, ann.IndexParams("flat"))
    assert [len(r) for r in ann.search(index, vectors[:2], 10)] == [3, 3]
    empty = ann.build(np.zeros((0, DIM), dtype=np.float32), ann.IndexParams("flat"))
    assert ann.search(empty, vectors[:1], 5) == [[]]


def test_the_index_type_follows_the_corpus_size() -> None:
    cfg = replace(Config(), ann_threshold=1_000)
    assert ann.choose_params(999, cfg).kind == "flat"
    hnsw = ann.choose_params(1_000, cfg)
    assert hnsw == ann.IndexParams("hnsw", m=32, ef_construction=80, ef_search=128)
    ivf = replace(cfg, ann_kind="ivfpq")
    assert ann.choose_params(5_000, ivf).kind == "flat"  # too few to train PQ codebooks
    params = ann.choose_params(1_000_000, ivf)
    assert (params.kind, params.nlist, params.nprobe, params.pq_m) == ("ivfpq", 1024, 64, 48)
    assert ann.choose_params(1_000_000, replace(ivf, ivf_nlist=1024)).nlist == 1024


@pytest.mark.parametrize(
    "params",
    [
        ann.IndexParams("flat"),
        ann.IndexParams("hnsw", m=16, ef_construction=40, ef_search=64),
        ann.IndexParams("ivfpq", nlist=64, nprobe=8, pq_m=48, rerank=10),
    ],
)
def test_params_survive_the_manifest(params: ann.IndexParams) -> None:
    import json

    assert ann.IndexParams.from_dict(json.loads(json.dumps(params.as_dict()))) == params


def test_hnsw_finds_the_exact_neighbours(tmp_path: Path) -> None:
    vectors, queries = clustered(5_000, 3), clustered(50, 4)
    params = ann.IndexParams("hnsw", m=32, ef_construction=80, ef_search=128)
    ann.write(ann.build(vectors, params), tmp_path / "dense.faiss")
    index = ann.read(tmp_path / "dense.faiss", params)
    assert index.hnsw.efSearch == 128  # from the manifest, not FAISS's default of 16
    assert recall(index, vectors, queries) >= 0.95


def test_ivfpq_reranks_with_the_exact_vectors(tmp_path: Path) -> None:
    vectors, queries = clustered(12_000, 5), clustered(50, 6)
    params = ann.IndexParams("ivfpq", nlist=64, nprobe=16, pq_m=48, rerank=20)
    np.save(tmp_path / ann.VECTORS, vectors)
    ann.write(ann.build(vectors, params), tmp_path / "dense.faiss")
    index = ann.read(tmp_path / "dense.faiss", params)
    assert index.ntotal == 12_000 and index.d == DIM
    assert recall(index, vectors, queries) >= 0.95
    # Scores are exact cosines, not PQ estimates.
    for q, found in zip(queries, ann.search(index, queries, 5), strict=True):
        assert np.allclose([s for _, s in found], vectors[[i for i, _ in found]] @ q, atol=1e-5)
    # PQ alone ranks worse: the rerank is what brings recall up.
    bare = ann.read(tmp_path / "dense.faiss", replace(params, rerank=1))
    assert recall(bare, vectors, queries) < recall(index, vectors, queries)


def test_pq_m_must_divide_the_dimension() -> None:
    with pytest.raises(ConfigError, match="ann.pq_m"):
        ann.build(clustered(12_000, 7), ann.IndexParams("ivfpq", nlist=64, nprobe=8, pq_m=50))


def test_ann_config_section_is_validated(tmp_path: Path) -> None:
    cfg_file = tmp_path / "kzqa.yaml"
    cfg_file.write_text("ann:\n  kind: ivfpq\n  threshold: 50000\n  ivf_nprobe: 32\n")
    cfg = load_config(cfg_file)
    assert (cfg.ann_kind, cfg.ann_threshold, cfg.ivf_nprobe) == ("ivfpq", 50_000, 32)
    cfg_file.write_text("ann:\n  kind: annoy\n")
    with pytest.raises(ConfigError, match="ann.kind"):
        load_config(cfg_file)
    cfg_file.write_text("ann:\n  ivf_nprobe: 0\n")
    with pytest.raises(ConfigError, match="ann.ivf_nprobe"):
        load_config(cfg_file)


def test_a_built_index_records_its_type(tmp_path: Path, fake_embedder) -> None:
    from kzqa.build import build_index
    from kzqa.store import read_manifest

    (tmp_path / "corpus").mkdir()
    for n in range(12):
        (tmp_path / "corpus" / f"d{n}.txt").write_text(f"Document {n} talks about topic {n}.\n")
    cfg = replace(
        load_config(None, tmp_path / "corpus", tmp_path / "index"),
        ann_threshold=5,
        hnsw_ef_search=77,
    )
    build_index(cfg, embedder=fake_embedder)
    manifest = read_manifest(cfg.index)
    assert manifest is not None
    assert manifest.index_type == {"kind": "hnsw", "m": 32, "ef_construction": 80, "ef_search": 77}


def test_changing_the_ann_settings_rebuilds_only_the_vector_index(
    tmp_path: Path, fake_embedder
) -> None:
    from kzqa.build import build_index
    from kzqa.render import index_text
    from kzqa.search import Searcher
    from kzqa.store import open_generation

    (tmp_path / "corpus").mkdir()
    for n in range(12):
        (tmp_path / "corpus" / f"d{n}.txt").write_text(f"Document {n} talks about topic {n}.\n")
    cfg = load_config(None, tmp_path / "corpus", tmp_path / "index")
    build_index(cfg, embedder=fake_embedder)
    flat = open_generation(cfg.index)
    assert flat is not None and flat.manifest.index_type == {"kind": "flat"}

    # Past the threshold now: a new generation with an HNSW index, no passage embedded again.
    hnsw = replace(cfg, ann_threshold=5)
    report = build_index(hnsw, embedder=fake_embedder)
    assert (report.passages_embedded, report.passages_reused) == (0, 12)
    assert report.settings_changed == "the vector index settings (ann.*) changed"
    assert "ann.*) changed: index files written again" in index_text(report)
    built = open_generation(cfg.index)
    assert built is not None and built.folder != flat.folder
    assert built.manifest.index_type["kind"] == "hnsw"
    (hit,) = Searcher(hnsw, built, fake_embedder).search("topic 7", 1).hits
    assert hit.passage.path == "d7.txt"

    # A search setting alone: a new generation too (servers and replicas swap to it), whose
    # HNSW graph is the same file, not built again.
    assert build_index(hnsw, embedder=fake_embedder).settings_changed is None  # as built
    build_index(replace(hnsw, hnsw_ef_search=64), embedder=fake_embedder)
    tuned = open_generation(cfg.index)
    assert tuned is not None and tuned.folder != built.folder
    assert tuned.manifest.index_type["ef_search"] == 64
    assert Searcher(hnsw, tuned, fake_embedder).dense.hnsw.efSearch == 64
    assert (tuned.folder / "dense.faiss").samefile(built.folder / "dense.faiss")  # linked

    # Damaged in place, its time put back (a build re-hashes only what moved): not carried on.
    graph = tuned.folder / "dense.faiss"
    stat, raw = graph.stat(), bytearray(graph.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    graph.unlink()  # its own file now (the old generation keeps the sound one)
    graph.write_bytes(bytes(raw))
    os.utime(graph, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    build_index(replace(hnsw, hnsw_ef_search=32), embedder=fake_embedder)
    mended = open_generation(cfg.index)
    assert mended is not None and not (mended.folder / "dense.faiss").samefile(graph)
    assert mended.damaged_files() == []  # its FAISS file was built again, not linked


# --- approximate indexes through the Searcher -----------------------------------------------

TOPICS, PER_TOPIC = 40, 50  # 2,000 passages: one file per topic, one passage per paragraph


@pytest.fixture(scope="module")
def topic_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Generated documents whose passages cluster by topic, as a real corpus's do; and
    questions made of a few words of one passage each."""
    rng = np.random.default_rng(7)
    letters = np.array(list("bcdfghklmnprstvz"))

    def words(n: int) -> np.ndarray:
        return np.array(["".join(rng.choice(letters, 5)) + "a" for _ in range(n)])

    corpus = tmp_path_factory.mktemp("topics") / "corpus"
    corpus.mkdir()
    common, texts = words(200), []
    for t in range(TOPICS):
        topic = words(12)
        paragraphs = [
            " ".join([*rng.choice(topic, 20), *rng.choice(common, 8)]) + "."
            for _ in range(PER_TOPIC)
        ]
        texts += paragraphs
        (corpus / f"topic-{t:02d}.txt").write_text("\n\n".join(paragraphs) + "\n")
    questions = [
        " ".join(rng.choice(texts[i].rstrip(".").split(), 8, replace=False))
        for i in rng.choice(len(texts), 30, replace=False)
    ]
    return corpus, questions


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_an_approximate_index_answers_like_exact_search_through_the_searcher(
    kind: str,
    topic_corpus: tuple[Path, list[str]],
    tmp_path: Path,
    fake_embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faiss

    from kzqa import store
    from kzqa.build import build_index
    from kzqa.search import Searcher

    corpus, questions = topic_corpus
    # IVF-PQ needs IVFPQ_MIN passages (10,000) to train its codebooks well; 2,000 keep the
    # build fast, and the exact rerank keeps the results right.
    monkeypatch.setattr(ann, "IVFPQ_MIN", 1_000)
    cfg = replace(
        load_config(None, corpus, tmp_path / "index"),
        ann_threshold=100,
        ann_kind=kind,
        pq_m=16,  # divides the fake model's 64 dimensions
        ivf_nlist=32,
        ivf_nprobe=8,  # a quarter of the lists: FAISS's default of 1 finds far fewer
    )
    report = build_index(cfg, embedder=fake_embedder)
    assert report.passages_total == TOPICS * PER_TOPIC
    searcher = Searcher.open(cfg, encoder=fake_embedder)
    manifest = searcher.generation.manifest
    assert manifest.index_type["kind"] == kind and not searcher.exact
    if kind == "hnsw":
        assert searcher.dense.hnsw.efSearch == cfg.hnsw_ef_search
    else:
        assert isinstance(searcher.dense, ann.Reranked)
        assert faiss.extract_index_ivf(searcher.dense.index).nprobe == 8
    flat = replace(manifest, index_type={"kind": "flat"})  # the same generation, searched exactly
    exact = Searcher(cfg, store.Generation(cfg.index, flat), encoder=fake_embedder)
    assert exact.exact

    vectors = searcher.generation.vectors
    qvecs = searcher.embed_questions(questions)
    found = searcher.search_dense(qvecs, 10)
    wanted = exact.search_dense(qvecs, 10)
    recalls = []
    for q, got, want in zip(qvecs, found, wanted, strict=True):
        assert len(got) == 10
        # Scores are the exact cosines of the rows returned (not PQ estimates, not shifted rows).
        assert np.allclose([s for _, s in got], vectors[[i for i, _ in got]] @ q, atol=1e-5)
        assert got[0][1] == pytest.approx(want[0][1], abs=1e-5)  # a best passage is found
        tenth = want[-1][1]  # rows tied with the exact 10th count as found
        recalls.append(sum(s >= tenth - 1e-6 for _, s in got) / 10)
    assert np.mean(recalls) >= 0.95
    # The whole hybrid search: the same top answer. (Not the same fused score: it is
    # standardized over the candidates, and the approximate pool of 100 differs a little.)
    for question in questions[:10]:
        a, b = searcher.search(question, 1).hits[0], exact.search(question, 1).hits[0]
        assert a.passage == b.passage
