"""The query path never imports torch, transformers or sentence-transformers (issue 5).

Each command runs in a fresh interpreter on a built index; afterwards sys.modules must hold
none of the heavy libraries. `ask` really answers (exit 0, a hit), so the check is not vacuous.
And `import kzqa` alone loads no numerical library at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# pymilvus too: only an index built with `store: milvus` loads it (tests/test_milvus.py)
HEAVY = ("torch", "transformers", "sentence_transformers", "pymilvus", "milvus_lite")
QUESTION = "How many Luban Workshops has Kazakhstan hosted?"
PROBE = """
import json, sys
from kzqa.cli import app
code = 0
try:
    app(sys.argv[1:], prog_name="kzqa")
except SystemExit as exc:
    code = exc.code or 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def run_probe(args: list[str], cwd: Path) -> tuple[int, list[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,  # `kzqa mcp` serves stdin: at its end it stops
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["heavy"], done.stdout


@pytest.mark.slow
def test_ask_answers_without_importing_torch(real_project: Path) -> None:
    code, heavy, out = run_probe(["ask", QUESTION, "--json"], real_project)
    assert code == 0
    assert "three Luban Workshops" in json.loads(out)["results"][0]["text"]
    assert heavy == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["status"], ["verify"], ["--help"], ["ask", "--help"], ["serve", "--help"], ["mcp"]],
)
def test_other_query_commands_never_import_torch(real_project: Path, args: list[str]) -> None:
    code, heavy, _ = run_probe(args, real_project)
    assert code == 0
    assert heavy == []


@pytest.mark.slow
def test_mcp_answers_without_importing_torch(real_project: Path) -> None:
    """`kzqa mcp`'s ask tool, called as the server calls it: a real answer, and no torch."""
    probe = (
        "import anyio, json, sys\n"
        "from kzqa.config import load_config\n"
        "from kzqa.serve.mcp import build_mcp\n"
        "server = build_mcp(load_config(None))\n"
        f"result = anyio.run(server.call_tool, 'ask', {{'question': {QUESTION!r}, 'k': 1}})\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})\n"
        "print(json.dumps({'heavy': heavy, 'answer': json.loads(result.content[0].text)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=real_project,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout)
    assert "three Luban Workshops" in report["answer"]["results"][0]["text"]
    assert report["heavy"] == []


def test_the_probe_sees_heavy_imports(tmp_path: Path) -> None:
    """The guard itself works: a process holding torch (a stand-in, for speed) is caught."""
    stand_in = "import sys, types\nsys.modules['torch'] = types.ModuleType('torch')\n"
    done = subprocess.run(
        [sys.executable, "-c", stand_in + PROBE.format(heavy=set(HEAVY)), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert "torch" in report["heavy"]


def test_import_kzqa_loads_no_numerical_library(tmp_path: Path) -> None:
    """`import kzqa`, reading the config and reaching `kzqa.ask` stay cheap: numpy, FAISS
    and torch come with the first search. The same probe sees numpy once a search runs."""
    probe = (
        "import json, sys; import kzqa; kzqa.load_config(); kzqa.ask, kzqa.ask_many; "
        "heavy = lambda: sorted(m for m in ('numpy', 'faiss', 'torch', 'transformers', "
        "'sentence_transformers', 'onnxruntime') if m in sys.modules); before = heavy(); "
        "from kzqa.search.dense import search_exact; search_exact([[1.0]], [[1.0]], 1); "
        "print(json.dumps([before, heavy(), kzqa.ask.__module__]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, after, module = json.loads(done.stdout)
    assert before == []
    assert "numpy" in after
    assert module == "kzqa.api"
