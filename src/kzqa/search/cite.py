"""Citations are checked: each cited file is read again, and its span must still hold the text."""

from __future__ import annotations

from pathlib import Path

from ..corpus import FileEntry, read_document
from ..records import Passage


class SpanChecker:
    """Re-reads cited files (once each) so a hit whose file no longer holds its text is flagged."""

    def __init__(self, corpus: Path) -> None:
        self.corpus = corpus
        self.texts: dict[str, str | None] = {}

    def verify(self, p: Passage) -> bool:
        """Whether the file, read as the index read it, still holds p's text at p's span."""
        if p.path not in self.texts:
            path = self.corpus / p.path
            try:
                st = path.stat()
                doc, _ = read_document(FileEntry(p.path, path, st.st_size, st.st_mtime_ns))
            except OSError:
                doc = None
            self.texts[p.path] = doc.text if doc else None
        text = self.texts[p.path]
        return text is not None and text[p.start_char : p.end_char] == p.text
