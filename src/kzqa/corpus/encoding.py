"""Bytes -> text: a byte-order mark, then a declared charset (HTML), then UTF-8, then a guess.

The same bytes always decode the same way (the citation check re-reads a file through here),
so the guess is made by a deterministic detector over a fixed list of encodings.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

# UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The legacy encodings documents are found in, in the order that breaks a tie: a short text
# fits several 8-bit code pages equally well, and the commonest is the likeliest.
LEGACY = (
    "cp1252",  # Windows Western
    "cp1251",  # Windows Cyrillic
    "koi8_r",  # Russian (Unix, old mail)
    "gb18030",  # Chinese (a superset of GBK and GB2312)
    "big5",  # Chinese (traditional)
    "cp932",  # Japanese (Shift JIS)
    "euc_kr",  # Korean
    "cp1250",  # Windows Central European
)
# What a page's <meta charset> may name and Python spells otherwise (the WHATWG's rules:
# pages labelled latin-1 or ASCII are read as Windows-1252; GBK as GB18030).
_LABELS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
}
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
DECLARATION_BYTES = 4096  # a page declares its charset near the top (browsers look at 1024)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # Python's name of the encoding used
    how: str  # "utf-8", "byte-order mark", "declared" or "detected"


def byte_order_mark(raw: bytes) -> str | None:
    """The UTF-16/32 encoding a byte-order mark announces (UTF-8's is read as UTF-8)."""
    return next((enc for bom, enc in _BOMS if raw.startswith(bom)), None)


def declared_charset(raw: bytes) -> str | None:
    """The charset an HTML page's <meta> names, when Python knows it; None otherwise."""
    m = _META_CHARSET.search(raw[:DECLARATION_BYTES])
    if not m:
        return None
    label = m[1].decode("ascii").lower()
    if label.startswith(("utf-16", "utf-32")):
        return "utf-8"  # a page whose <meta> can be read is not UTF-16 (WHATWG)
    label = _LABELS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode(raw: bytes, declared: str | None = None) -> Decoded:
    """raw as text: by its byte-order mark, else the declared charset when the bytes hold it,
    else UTF-8 when they are, else the legacy encoding the detector finds likeliest."""
    if bom := byte_order_mark(raw):
        return Decoded(raw.decode(bom, errors="replace"), bom, "byte-order mark")
    if declared:
        try:
            return Decoded(raw.decode(declared), declared, "declared")
        except UnicodeDecodeError:
            pass
    try:
        return Decoded(raw.decode("utf-8"), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    for encoding in guesses(raw):
        try:
            return Decoded(raw.decode(encoding), codecs.lookup(encoding).name, "detected")
        except UnicodeDecodeError:
            continue
    return Decoded(raw.decode("latin-1"), "latin-1", "detected")  # never fails


def guesses(raw: bytes) -> list[str]:
    """The legacy encodings raw may be in, likeliest first (charset-normalizer's judgement:
    least garbled, then most like a known language, then the order of LEGACY)."""
    from charset_normalizer import from_bytes

    rank = {name: i for i, name in enumerate(LEGACY)}
    scored = []
    for match in from_bytes(raw, cp_isolation=list(LEGACY)):
        # Encodings that decode these bytes to the same text are one match: name the commonest.
        names = [n for n in match.could_be_from_charset if n in rank] or [match.encoding]
        name = min(names, key=lambda n: rank.get(n, len(rank)))
        known = match.language not in ("Unknown", "")
        scored.append((match.chaos, -match.coherence, not known, rank.get(name, len(rank)), name))
    return [name for *_, name in sorted(scored)] + ["cp1252"]


def web_name(encoding: str) -> str:
    """Python's name of an encoding as a Content-Type charset browsers read."""
    name = codecs.lookup(encoding).name
    if name.startswith("cp125"):
        return "windows-" + name[2:]
    return {"cp932": "shift_jis", "euc_kr": "euc-kr", "koi8_r": "koi8-r"}.get(name, name)
