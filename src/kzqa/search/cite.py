"""Citations are checked: each cited file is read again, and its span must still hold the text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..corpus import read_file
from ..records import Answer, Passage


class SpanChecker:
    """Re-reads cited files (once each) so a hit whose file no longer holds its text is flagged."""

    def __init__(self, corpus: Path) -> None:
        self.corpus = corpus
        self.texts: dict[str, str | None] = {}

    def verify(self, p: Passage) -> bool:
        """Whether the file, read as the index read it, still holds p's text at p's span."""
        if p.path not in self.texts:
            try:
                doc = read_file(self.corpus, p.path)
            except OSError:
                doc = None
            self.texts[p.path] = doc.text if doc else None
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
