"""The library API a user imports: `kzqa.load_config`, `kzqa.ask`, `kzqa.ask_many`."""

from __future__ import annotations

from pathlib import Path

from conftest import ARTICLE
from kzqa import store
from kzqa.records import AskResult
from kzqa.render import ask_json

LUBAN = "How many Luban Workshops has Kazakhstan hosted?"
FAIR = "Where was the Study in Kazakhstan education fair held?"
BRANCHES = "Which Chinese universities opened branches in Kazakhstan?"


def test_ask_on_a_fresh_project_builds_the_index_and_cites_the_article(project: Path) -> None:
    import kzqa

    cfg = kzqa.load_config()
    assert cfg.corpus.resolve() == project / "corpus"
    assert cfg.index.resolve() == project / "index"
    assert store.read_manifest(cfg.index) is None
    logs: list[str] = []
    result = kzqa.ask(cfg, LUBAN, log=logs.append)
    assert logs[0] == f"kzqa: no index in {cfg.index} yet; building it from {cfg.corpus}"
    assert logs[1].startswith("kzqa: indexed 1 documents, ")
    assert store.read_manifest(cfg.index) is not None
    assert isinstance(result, AskResult)
    assert result.question == LUBAN and result.answered
    assert len(result.hits) == cfg.k
    top = result.hits[0]
    text = (cfg.corpus / ARTICLE.name).read_text(encoding="utf-8")
    assert top.passage.path == ARTICLE.name and top.source.verified
    assert text[top.passage.start_char : top.passage.end_char] == top.passage.text
    assert text[top.answer.start_char : top.answer.end_char] == top.answer.text
    assert "hosted three Luban Workshops" in top.answer.text

    # ask_many: each question answered, in order, from the index built above (no rebuild).
    logs.clear()
    many = kzqa.ask_many(cfg, [FAIR, LUBAN, BRANCHES], k=2, log=logs.append)
    assert logs == []
    assert [r.question for r in many] == [FAIR, LUBAN, BRANCHES]
    assert all(r.answered and len(r.hits) == 2 for r in many)
    assert "Urumqi" in many[0].hits[0].answer.text
    assert many[1].hits[0].passage == top.passage
    assert "Northwestern Polytechnical University" in many[2].hits[0].passage.text
    for r in many:
        for hit in r.hits:
            assert text[hit.answer.start_char : hit.answer.end_char] == hit.answer.text


def test_the_readme_library_example_runs(real_project: Path, capsys) -> None:
    import re

    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using it as a library", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    out = capsys.readouterr().out.splitlines()
    assert re.match(rf"corpus/{re.escape(ARTICLE.name)}:17:1 [0-9.]+ In addition", out[0])
    assert out[0].endswith(
        "hosted three Luban Workshops - more than in any other country in the world."
    )
    assert "True" in out
    assert scope["other"].corpus == Path("/data/notes")
    assert "Urumqi" in out[-1]
    result = scope["result"]
    assert result.as_dict() == ask_json(result, Path("corpus"))  # one shape, one place
