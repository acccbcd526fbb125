"""Corpus files -> Documents: which files are read (scan), how (read, by type), what moved
since the index was built (changes)."""

from .changes import Changes, changes_since, compare
from .paths import corpus_paths, display_source, inside
from .read import READER_VERSION, charset_of, decode, read_document, read_file
from .scan import KINDS, FileEntry, Scan, scan_corpus

__all__ = [
    "KINDS",
    "READER_VERSION",
    "Changes",
    "FileEntry",
    "Scan",
    "changes_since",
    "charset_of",
    "compare",
    "corpus_paths",
    "decode",
    "display_source",
    "inside",
    "read_document",
    "read_file",
    "scan_corpus",
]
