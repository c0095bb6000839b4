"""The README's Python section on the real models it names (SmolLM2, Gemma-3 through llama.cpp,
MiniLM for retrieval); the student is built on the real MiniLM encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.readme_snippets import make_student, run_blocks, write_unlabeled_pool


@pytest.mark.slow
def test_readme_python_snippets_run_on_the_real_models(tmp_path: Path, capsys) -> None:
    from fewner.models import hf_path

    make_student(tmp_path / "runs" / "distill-D" / "student", hf_path("minilm-l6"))
    write_unlabeled_pool(tmp_path)
    # the icl-fast teacher's three models (Qwen is optional here) are tested in the ICL suites
    ns = run_blocks(tmp_path, {'recipe="distill-from",': 'recipe="distill-from", teacher="dictionary",'})
    assert (tmp_path / "my-ner" / "fewner.json").is_file()
    for entity in ns["ner"].predict("Angela Merkel visited Paris.", labels=["person", "city"]):
        assert "Angela Merkel visited Paris."[entity.start : entity.end] == entity.text
    assert ns["fast"].kind == "span" and (tmp_path / "runs" / "mine" / "model" / "fewner.json").is_file()
    assert capsys.readouterr().out.strip()
