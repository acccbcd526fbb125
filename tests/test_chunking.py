"""Chunking: exact spans, whole sentences, passages that fit the window."""

from __future__ import annotations

from conftest import ARTICLE
from kzqa.chunking import ChunkSettings, chunk_document, paragraphs, split_sentences
from kzqa.records import Document


def words(texts):
    return [len(t.split()) for t in texts]


def doc(text: str, kind: str = "text") -> Document:
    return Document("d.txt", text, kind)


def test_sentences_respect_abbreviations_initials_and_quotes() -> None:
    text = (
        'Dr. Smith met J. R. Tolkien in the U.S. on Monday. He said "Hello there." '
        "Then they left, e.g. for lunch! Was it good? Yes."
    )
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "Dr. Smith met J. R. Tolkien in the U.S. on Monday.",
        'He said "Hello there."',
        "Then they left, e.g. for lunch!",
        "Was it good?",
        "Yes.",
    ]


def test_headline_lines_are_sentences_but_wrapped_prose_is_not() -> None:
    header = "WORLD\nA headline about things\nPublished: Dec 04, 2025"
    assert len(split_sentences(header)) == 3
    prose = (
        "This is a long line of wrapped prose that goes on and on until the\n"
        "Editor decided to wrap it at about seventy characters for the email\n"
        "and so it continues."
    )
    assert len(split_sentences(prose)) == 1


def test_cjk_sentences() -> None:
    text = "哈萨克斯坦有三个鲁班工坊。这很重要！"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "哈萨克斯坦有三个鲁班工坊。",
        "这很重要！",
    ]


def test_article_passages_are_exact_whole_sentence_spans() -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    passages = chunk_document(doc(text), words, ChunkSettings(256, 128, 24))
    assert len(passages) > 8
    covered = []
    for p in passages:
        assert text[p.start_char : p.end_char] == p.text
        assert p.start_line == text.count("\n", 0, p.start_char) + 1
        assert p.end_line == text.count("\n", 0, p.end_char) + 1
        for s, e in p.sentences:
            assert p.start_char <= s < e <= p.end_char
        covered += [text[s:e] for s, e in p.sentences]
    # every sentence of every paragraph lands in exactly one passage, in order
    expected = [text[s:e] for ps, pe in paragraphs(text) for s, e in split_sentences(text, ps, pe)]
    assert covered == expected and len(covered) > 25
    assert all(
        sum(words([text[s:e] for s, e in p.sentences])) <= 128 or len(p.sentences) == 1
        for p in passages
    )


def test_long_paragraph_is_cut_between_sentences_within_budget() -> None:
    sentences = [f"Sentence number {i} has exactly eight words here." for i in range(40)]
    text = " ".join(sentences)
    passages = chunk_document(doc(text), words, ChunkSettings(256, 50, 10))
    assert len(passages) > 5
    for p in passages:
        assert len(p.text.split()) <= 50
        assert p.text.startswith("Sentence number") and p.text.endswith("here.")
    assert " ".join(p.text for p in passages) == text


def test_a_sentence_longer_than_the_window_is_cut_between_words() -> None:
    line = " ".join(f"word{i}" for i in range(700)) + " the secret ingredient is horse meat"
    text = f"A short opening sentence.\n\n{line}\n\nA closing sentence.\n"
    passages = chunk_document(doc(text), words, ChunkSettings(256, 128, 24))
    for p in passages:
        assert len(p.text.split()) <= 254  # the window less [CLS] and [SEP]
        assert text[p.start_char : p.end_char] == p.text
        for s, e in p.sentence_spans():  # pieces of whole words
            assert text[s - 1] in " \n" and (e == len(text) or text[e] in " \n")
    assert len(passages) >= 3  # 706 words in pieces of at most 254
    assert " ".join(p.text for p in passages).split() == text.split()  # nothing lost
    assert any("horse meat" in p.text for p in passages)


def test_short_paragraphs_pack_and_repeated_ones_stand_alone() -> None:
    text = "Tiny one.\n\nTiny two.\n\nA caption.\n\nA caption.\n\nTiny three."
    passages = chunk_document(doc(text), words, ChunkSettings(256, 100, 24))
    texts = [p.text for p in passages]
    assert texts[0] == "Tiny one.\n\nTiny two.\n\nA caption."
    assert "A caption." in texts[1:]


def test_markdown_front_matter_is_not_a_passage() -> None:
    text = "---\ntitle: T\n---\n\nBody sentence one. Body sentence two.\n"
    passages = chunk_document(doc(text, "markdown"), words)
    assert [p.text for p in passages] == ["Body sentence one. Body sentence two."]
    assert passages[0].start_line == 5


def test_a_title_joins_the_first_piece_of_the_long_paragraph_it_heads() -> None:
    body = " ".join(f"Sentence {i} of the abstract has eight words." for i in range(30))
    passages = chunk_document(doc(f"Short title\n\n{body}"), words, ChunkSettings(100, 50, 10))
    assert passages[0].text.startswith("Short title\n\nSentence 0 ")
    assert all(len(p.text.split()) <= 100 - 2 for p in passages)
    assert len(passages) > 4


def test_a_markdown_heading_starts_the_passage_it_heads() -> None:
    text = (
        "# Almaty\n\nAlmaty is the largest city. It lies in the south.\n\n"
        "## Climate\n\nWinters are cold. Summers are hot and dry.\n"
    )
    passages = chunk_document(doc(text, "markdown"), words, ChunkSettings(256, 128, 24))
    assert [p.text for p in passages] == [
        "# Almaty\n\nAlmaty is the largest city. It lies in the south.",
        "## Climate\n\nWinters are cold. Summers are hot and dry.",
    ]
    assert passages[1].start_line == 5


def test_an_html_heading_starts_the_passage_it_heads(tmp_path) -> None:
    from kzqa.corpus import FileEntry, read_document

    page = tmp_path / "p.html"
    page.write_text(
        "<html><head><title>Expo</title></head><body><h1>Expo</h1>"
        "<p>The expo opens in May. It runs a week.</p>"
        "<h2>Tickets</h2><p>Tickets cost ten dollars. Children go free.</p></body></html>",
        encoding="utf-8",
    )
    st = page.stat()
    document, _ = read_document(FileEntry("p.html", page, st.st_size, st.st_mtime_ns))
    assert document is not None
    passages = chunk_document(document, words, ChunkSettings(256, 128, 24))
    assert [p.text for p in passages] == [
        "Expo\n\nThe expo opens in May. It runs a week.",
        "Tickets\n\nTickets cost ten dollars. Children go free.",
    ]
    # Offsets still point into the extracted text, which holds no trace of the markup.
    assert "\x02" not in document.text
    assert all(document.text[p.start_char : p.end_char] == p.text for p in passages)
