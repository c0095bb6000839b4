"""Run the README's Python section: every ```python block under "## Python", in order, in one
namespace, in a scratch working directory. ``replace`` maps strings of the README to others
(the fast suite swaps the real models for tiny random ones; the slow suite runs them as written).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def run_blocks(workdir: Path, replace: Mapping[str, str] = {}) -> dict:
    """Execute every block; returns the namespace (tests inspect what the snippets made)."""
    namespace: dict = {"__name__": "readme"}
    old = os.getcwd()
    os.chdir(workdir)
    try:
        for block in python_blocks():
            for a, b in replace.items():
                block = block.replace(a, b)
            exec(compile(block, "README.md (## Python)", "exec"), namespace)
    finally:
        os.chdir(old)
    return namespace


def make_student(folder: Path, encoder: str) -> Path:
    """A student like ``fewner distill`` writes (fewner distill RUN/student), built on ``encoder``."""
    from fewner.distill.student import Student

    Student.build(encoder, ["PER", "LOC", "ORG", "MISC"], seed=0).save(folder)
    return folder


def write_unlabeled_pool(workdir: Path) -> Path:
    """The unlabeled text the README's ``distill-from`` snippet reads (one sentence per line)."""
    path = workdir / "my_unlabeled_text.txt"
    path.write_text("Sundar Pichai met Tim Cook in Berlin.\nApple moved its office to Munich.\n"
                    "Angela Merkel spoke in Paris on Friday.\n", encoding="utf-8")
    return path
