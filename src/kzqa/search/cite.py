"""Citations are checked: a cited file that moved since the build is read again, and its span
must still hold the text."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..corpus import read_file
from ..files import stamp
from ..kept import Kept
from ..records import EXTRACTED, Answer, Passage

FILE_TEXTS = 256  # cited files whose text a searcher keeps (FileTexts)


class FileTexts:
    """The texts of cited files, read as the index read them, kept while each file's size and
    modification time stay the same (the test a build makes too): a server cites the same
    files question after question, and reading one (a PDF is extracted again) costs more
    than the rest of the check. Least recently used first out."""

    def __init__(self, entries: int = FILE_TEXTS) -> None:
        self._texts: Kept[str, tuple[tuple[int, int], str | None]] = Kept(entries)

    def text(self, corpus: Path, path: str) -> str | None:
        """The file's text now; None when it is gone or holds no usable text."""
        now = stamp(os.path.join(corpus, path))  # no pathlib: this runs for every hit
        if now is None:
            return None
        kept = self._texts.get(path)
        if kept is not None and kept[0] == now:
            return kept[1]
        try:
            doc = read_file(corpus, path)
        except OSError:
            return None
        text = doc.text if doc else None
        self._texts.put(path, (now, text))
        return text


class SpanChecker:
    """Checks that each cited file still holds its passage.

    A file whose size and modification time are those the build recorded (`recorded`: the
    manifest's `files`) is the file the build read, by the test builds make too, so it is not
    read again: extracting a PDF takes about 10 ms a page (bench/perf/pdf_extract.py), and a
    cold `kzqa ask` has nothing kept. Any other file is read (once, as the index read it) and
    compared. `files`: texts kept from earlier checks (a searcher's), if any.
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
        meta = self.recorded.get(p.path)
        now = stamp(os.path.join(self.corpus, p.path))
        if meta is not None and now is not None and now == (meta["size"], meta["mtime_ns"]):
            return True
        text = self._text(p.path)
        return text is not None and text[p.start_char : p.end_char] == p.text

    def locate(self, p: Passage, answer: Answer, column: bool = True) -> Answer:
        """The answer with its lines and first column. The column comes from the passage when a
        line starts in it before the answer, else from the file's text: a plain-text file is
        read for it (kept for the next question) unless `column` is false; an extracted one
        (PDF, HTML, Word, OpenDocument, cited by page, paragraph or extracted line) is not.
        Otherwise the column is not known (0), as for a file that no longer holds the passage."""
        offset = answer.start_char - p.start_char
        line = p.start_line + p.text.count("\n", 0, offset)
        end_line = p.start_line + p.text.count(
            "\n", 0, max(offset, answer.end_char - 1 - p.start_char)
        )
        col = 0
        if "\n" in p.text[:offset]:
            col = offset - p.text.rfind("\n", 0, offset)
        elif column and self.recorded.get(p.path, {}).get("kind", "text") not in EXTRACTED:
            text = self._text(p.path)
            if text is not None and text[p.start_char : p.end_char] == p.text:
                col = answer.start_char - (text.rfind("\n", 0, answer.start_char) + 1) + 1
        return replace(answer, start_line=line, start_col=col, end_line=end_line)

    def _text(self, path: str) -> str | None:
        if path not in self.texts:
            self.texts[path] = self.files.text(self.corpus, path)
        return self.texts[path]
