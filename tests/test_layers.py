"""The layering in pyproject.toml ([tool.importlinter]) holds, and the check really bites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_layering_contracts_are_kept() -> None:
    result = lint(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_a_search_module_that_imports_the_build_side_breaks_them(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src" / "kzqa", tmp_path / "src" / "kzqa")
    cite = tmp_path / "src" / "kzqa" / "search" / "cite.py"
    cite.write_text(cite.read_text() + "\nfrom ..build import build_index  # noqa\n")
    typer_user = tmp_path / "src" / "kzqa" / "render.py"
    typer_user.write_text(typer_user.read_text() + "\nimport typer  # noqa\n")
    result = lint(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "kzqa.search.cite -> kzqa.build" in result.stdout
    assert "kzqa.render -> typer" in result.stdout
