"""Helpers of the bulk-job tests: a tiny support set and small corpora (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

from fewner.types import Sentence

LABELS = ["PER", "LOC", "ORG"]

TEXTS = [
    "Peter Blackburn met Zoë in Brussels .",
    "the talks ended without a deal .",
    "Reuters says Zürich and Brussels agree",
    "  Zoë  flew to 東京 with Peter Blackburn  ",  # kept as is: offsets index the line
    "nothing here",
    "EU officials and Reuters staff in Zürich .",
    "Brussels , Zürich , Brussels .",
]


def support() -> list[Sentence]:
    return [
        Sentence.from_words("Peter Blackburn visited Brussels for Reuters .".split(),
                            [(0, 2, "PER"), (3, 4, "LOC"), (5, 6, "ORG")], id="s0"),
        Sentence.from_words("Zoë lives in Zürich near the EU office .".split(),
                            [(0, 1, "PER"), (3, 4, "LOC"), (6, 7, "ORG")], id="s1"),
    ]


def corpus_texts(n: int) -> list[str]:
    """``n`` documents cycling through TEXTS, each made unique by a numbered suffix."""
    return [f"{TEXTS[i % len(TEXTS)]} #{i}" for i in range(n)]


def write_text_corpus(path: Path, texts: list[str], blank_every: int = 0) -> Path:
    lines: list[str] = []
    for i, text in enumerate(texts):
        lines.append(text)
        if blank_every and i % blank_every == blank_every - 1:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl_corpus(path: Path, texts: list[str]) -> Path:
    """Ids of mixed kinds: strings, integers, and none (-> ``<file>:<line>``), some meta."""
    with path.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            record: dict = {"text": text}
            if i % 3 == 0:
                record["id"] = f"doc-{i}"
            elif i % 3 == 1:
                record["id"] = 1000 + i
            if i % 4 == 0:
                record["meta"] = {"source": "test", "n": str(i)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
