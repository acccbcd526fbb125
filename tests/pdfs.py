"""PDFs made by the tests: a tiny writer of positioned text (no library, so the reader is
tested against bytes it did not make), and Debian's headless Chromium for realistic ones."""

from __future__ import annotations

import html
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "chromium"
LETTER = (612, 792)  # points


@dataclass
class Page:
    """Text lines at (x, y) in points from the bottom left, in the order they are drawn."""

    lines: list[tuple[float, float, float, str]] = field(default_factory=list)  # x, y, size, text
    image: bool = False  # a grey image across the page (a scan has only this)


def _string(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def make_pdf(pages: list[Page], info: dict[str, str] | None = None, labels: str = "") -> bytes:
    """A PDF of the pages in Helvetica. `info`: the document information (Title, CreationDate);
    `labels`: a /PageLabels number tree's /Nums content, e.g. "0 << /S /r >> 2 << /S /D >>"."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    pixels = bytes(range(256)) * 16  # 64 x 64 grey, NULs included
    image = add(
        b"<< /Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n" % len(pixels) + pixels + b"\nendstream"
    )
    tree = add(b"")  # the page tree, filled in once the pages are numbered
    kids = []
    for page in pages:
        content = b"q 612 0 0 792 0 0 cm /Im1 Do Q\n" if page.image else b""
        for x, y, size, text in page.lines:
            content += b"BT /F1 %g Tf %g %g Td %s Tj ET\n" % (size, x, y, _string(text))
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> /XObject << /Im1 %d 0 R >> >> >>"
                % (tree, *LETTER, stream, font, image)
            )
        )
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    extra = b" /PageLabels << /Nums [%s] >>" % labels.encode() if labels else b""
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R%s >>" % (tree, extra))
    trailer = b"/Root %d 0 R" % catalog
    if info:
        entries = b" ".join(b"/%s %s" % (k.encode(), _string(v)) for k, v in info.items())
        trailer += b" /Info %d 0 R" % add(b"<< " + entries + b" >>")
    trailer += b" /Size %d" % (len(objects) + 1)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref)
    return bytes(out)


def paragraph_lines(
    paragraphs: list[str], top: float = 740, size: float = 11, width: int = 90, x: float = 72
) -> list[tuple[float, float, float, str]]:
    """Paragraphs wrapped at `width` characters, 1.3 lines apart, a blank line between them."""
    import textwrap

    lines = []
    y = top
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, width):
            lines.append((x, y, size, line))
            y -= 1.3 * size
        y -= 1.3 * size
    return lines


def encrypt(pdf: bytes, password: str) -> bytes:
    """The PDF encrypted with a user password (pypdf does it; kzqa reads with pdfium)."""
    import io

    import pypdf

    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def article_html(text: str, title: str) -> str:
    """A plain-text article as a page: a paragraph per block, each header line its own."""
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    head, body = blocks[0].splitlines(), blocks[1:]
    paragraphs = "".join(f"<p>{html.escape(p)}</p>\n" for p in [*head, *body])
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}"
        "</title><style>body{font:17pt serif}</style></head>"
        f"<body>{paragraphs}</body></html>"
    )


def print_to_pdf(page: Path, out: Path) -> Path:
    """The page printed by headless Chromium (with its running header and footer: date,
    title, file URL and "n/N"), as a browser user would save it."""
    chromium = shutil.which(CHROMIUM)
    assert chromium, "the PDF tests need Debian's chromium (apt-get install chromium)"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", f"--print-to-pdf={out}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out
