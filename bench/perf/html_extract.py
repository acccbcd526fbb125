"""Saved web pages: the article reader (trafilatura, kzqa's default) against the visible-text
reader kzqa used before (issue 12). Pages: tests/fixtures/pages/, built to look like saved news
pages (nav, menus, share bars, cookie banners, sidebars, related links, comments, footers) plus a
page that is not an article; expected.json lists, per page, the article's sentences a reader
must keep and the boilerplate it should drop.

    PYTHONPATH=src .venv/bin/python bench/perf/html_extract.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from kzqa.corpus import decode
from kzqa.corpus.blocks import Extracted
from kzqa.corpus.html import read_html, visible_text

PAGES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "pages"
READERS: dict[str, Callable[[str], Extracted]] = {
    "article (trafilatura)": read_html,
    "visible text (before)": visible_text,
}


def measure(read: Callable[[str], Extracted], html: str, want: dict, repeat: int) -> dict:
    read(html)  # warm: the first read pays for imports and caches
    start = time.perf_counter()
    for _ in range(repeat):
        page = read(html)
    ms = (time.perf_counter() - start) / repeat * 1000
    kept = sum(s in page.text for s in want["article"])
    leaked = sum(s in page.text for s in want["boilerplate"])
    return {
        "kept": kept,
        "article": len(want["article"]),
        "leaked": leaked,
        "boilerplate": len(want["boilerplate"]),
        "chars": len(page.text),
        "ms": ms,
        "meta": (page.title, page.published, page.author),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="reads of each page timed")
    args = parser.parse_args()
    expected = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))
    totals = {name: {"kept": 0, "article": 0, "leaked": 0, "boilerplate": 0} for name in READERS}
    print("| page | reader | article kept | boilerplate kept | chars | ms/page |")
    print("|---|---|---|---|---|---|")
    for page, want in expected.items():
        if page.startswith("_"):
            continue
        html, _ = decode((PAGES / page).read_bytes(), "html")
        for name, read in READERS.items():
            m = measure(read, html, want, args.repeat)
            for key in totals[name]:
                totals[name][key] += m[key]
            print(
                f"| {page} | {name} | {m['kept']}/{m['article']} | "
                f"{m['leaked']}/{m['boilerplate']} | {m['chars']} | {m['ms']:.1f} |"
            )
    for name, t in totals.items():
        print(
            f"| **all** | {name} | {t['kept']}/{t['article']} | "
            f"{t['leaked']}/{t['boilerplate']} | | |"
        )
    print()
    for page in expected:
        if not page.startswith("_"):
            found = read_html(decode((PAGES / page).read_bytes(), "html")[0])
            print(f"{page}: {found.title!r}, {found.published}, {found.author!r}")


if __name__ == "__main__":
    main()
