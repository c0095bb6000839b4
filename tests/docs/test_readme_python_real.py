"""The README's Python section on the real models it names (SmolLM2, Gemma-3 through llama.cpp,
MiniLM for retrieval); the student is built on the real MiniLM encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.readme_snippets import make_student, run_blocks


@pytest.mark.slow
def test_readme_python_snippets_run_on_the_real_models(tmp_path: Path, capsys) -> None:
    from fewner.models import hf_path

    make_student(tmp_path / "runs" / "distill-D" / "student", hf_path("minilm-l6"))
    ns = run_blocks(tmp_path)
    assert (tmp_path / "my-ner" / "fewner.json").is_file()
    for entity in ns["ner"].predict("Angela Merkel visited Paris.", labels=["person", "city"]):
        assert "Angela Merkel visited Paris."[entity.start : entity.end] == entity.text
    assert capsys.readouterr().out.strip()
