"""Citations are checked: each cited file is read again, and its span must still hold the text."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..corpus import read_file
from ..files import stamp
from ..kept import Kept
from ..records import Answer, Passage

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
    """Re-reads cited files (once each) so a hit whose file no longer holds its text is flagged.
    `files`: texts kept from earlier checks (a searcher's), if any."""

    def __init__(self, corpus: Path, files: FileTexts | None = None) -> None:
        self.corpus = corpus
        self.files = files or FileTexts()
        self.texts: dict[str, str | None] = {}

    def verify(self, p: Passage) -> bool:
        """Whether the file, read as the index read it, still holds p's text at p's span."""
        if p.path not in self.texts:
            self.texts[p.path] = self.files.text(self.corpus, p.path)
        text = self.texts[p.path]
        return text is not None and text[p.start_char : p.end_char] == p.text

    def locate(self, p: Passage, answer: Answer) -> Answer:
        """The answer with its lines and first column: from the file's text when it still holds
        the passage (verify() first), else from the passage alone (column not known)."""
        offset = answer.start_char - p.start_char
        line = p.start_line + p.text.count("\n", 0, offset)
        end_line = p.start_line + p.text.count(
            "\n", 0, max(offset, answer.end_char - 1 - p.start_char)
        )
        text = self.texts.get(p.path)
        col = 0
        if text is not None and text[p.start_char : p.end_char] == p.text:
            col = answer.start_char - (text.rfind("\n", 0, answer.start_char) + 1) + 1
        elif "\n" in p.text[:offset]:
            col = offset - p.text.rfind("\n", 0, offset)
        return replace(answer, start_line=line, start_col=col, end_line=end_line)
