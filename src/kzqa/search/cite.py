"""Citations are checked: the cited file must still hold the passage's text at its span."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..corpus import read_file
from ..files import Signature, sha256_file, signature
from ..kept import Kept
from ..records import EXTRACTED, Answer, Passage

FILE_TEXTS = 256  # cited files whose text (or digest) a searcher keeps (FileTexts)
T = TypeVar("T")


class FileTexts:
    """The texts of cited files, read as the index read them, and the SHA-256 of their bytes,
    each kept while the file's signature (size, modification and change times, inode) stays
    the same: a server cites the same files question after question, and reading one (a PDF
    is extracted again) costs more than the rest of the check. Least recently used first
    out."""

    def __init__(self, entries: int = FILE_TEXTS) -> None:
        self._texts: Kept[str, tuple[Signature, str | None]] = Kept(entries)
        self._digests: Kept[str, tuple[Signature, str]] = Kept(entries)

    def text(self, corpus: Path, path: str) -> str | None:
        """The file's text now; None when it is gone or holds no usable text."""

        def read() -> str | None:
            doc = read_file(corpus, path)
            return doc.text if doc else None

        return _kept_while_unchanged(self._texts, corpus, path, read)

    def digest(self, corpus: Path, path: str) -> str | None:
        """The SHA-256 of the file's bytes now; None when it is gone."""
        return _kept_while_unchanged(
            self._digests, corpus, path, lambda: sha256_file(Path(corpus, path))
        )


def _kept_while_unchanged(
    kept: Kept[str, tuple[Signature, T]], corpus: Path, path: str, compute: Callable[[], T]
) -> T | None:
    """compute()'s value for the file at corpus/path, from `kept` while the file's signature
    (size, times, inode) is the one it was computed at; None when the file is gone or cannot
    be read."""
    now = signature(os.path.join(corpus, path))  # no pathlib: this runs for every hit
    if now is None:
        return None
    found = kept.get(path)
    if found is not None and found[0] == now:
        return found[1]
    try:
        value = compute()
    except OSError:
        return None
    kept.put(path, (now, value))
    return value


class SpanChecker:
    """Checks that each cited file still holds its passage: a plain-text file is read again
    and its span compared. An extracted one (PDF, HTML, Word, OpenDocument) is first compared
    by the SHA-256 of its bytes with the one the index recorded (`recorded`: the manifest's
    `files`): the same bytes give the same text, and extracting a PDF again takes about 10 ms
    a page (bench/perf/pdf_extract.py) where hashing it takes well under one. It is extracted
    and its span compared only when they differ. `files`: texts and digests kept from
    earlier checks (a searcher's), if any.
    """

    def __init__(
        self,
        corpus: Path,
        recorded: Mapping[str, Mapping[str, Any]],
        files: FileTexts | None = None,
    ) -> None:
        self.corpus = corpus
        self.recorded = recorded
        self.files = files or FileTexts()
        self.texts: dict[str, str | None] = {}

    def verify(self, p: Passage) -> bool:
        """Whether the file, read as the index read it, still holds p's text at p's span."""
        meta = self.recorded.get(p.path, {})
        if meta.get("kind", "text") in EXTRACTED and meta.get("sha256"):
            if self.files.digest(self.corpus, p.path) == meta["sha256"]:
                return True
        if p.path not in self.texts:
            self.texts[p.path] = self.files.text(self.corpus, p.path)
        text = self.texts[p.path]
        return text is not None and text[p.start_char : p.end_char] == p.text

    def locate(self, p: Passage, answer: Answer) -> Answer:
        """The answer with its lines and first column (verify() first). The column comes from
        the passage when a line starts in it before the answer, else, for a plain-text file
        that still holds the passage, from the text verify() read. An extracted file's column
        would count characters of its extracted text, which is not worth extracting it again
        for: it is not known (0), as for a file that no longer holds the passage."""
        offset = answer.start_char - p.start_char
        line = p.start_line + p.text.count("\n", 0, offset)
        end_line = p.start_line + p.text.count(
            "\n", 0, max(offset, answer.end_char - 1 - p.start_char)
        )
        text = self.texts.get(p.path)
        extracted = self.recorded.get(p.path, {}).get("kind", "text") in EXTRACTED
        col = 0
        if "\n" in p.text[:offset]:
            col = offset - p.text.rfind("\n", 0, offset)
        elif not extracted and text is not None and text[p.start_char : p.end_char] == p.text:
            col = answer.start_char - (text.rfind("\n", 0, answer.start_char) + 1) + 1
        return replace(answer, start_line=line, start_col=col, end_line=end_line)
