"""Report rendering: tables carry the numbers, JSON carries meta plus scores."""

from __future__ import annotations

import io

from rich.console import Console

from fewner.eval.metrics import aggregate_episodes, score
from fewner.eval.report import episodes_table, scores_json, scores_renderable
from fewner.types import Sentence

WORDS = "Ann Lee met Bob in New York City today".split()


def _render(renderable) -> str:
    console = Console(width=140, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _scores():
    gold = [Sentence.from_words(WORDS, [(0, 2, "PER"), (5, 8, "creative-work")], id="a")]
    pred = [Sentence.from_words(WORDS, [(0, 1, "PER"), (5, 8, "creative-work")], id="a")]
    return score(gold, pred)


def test_scores_table_shows_averages_types_and_errors() -> None:
    text = _render(scores_renderable(_scores(), title="demo"))
    assert "demo" in text
    assert "creative-work" in text and "PER" in text
    micro_row = next(line for line in text.splitlines() if "micro" in line)
    assert "50.00" in micro_row  # P = R = F1 = 1/2, shown in percent
    boundary_row = next(
        line for line in text.splitlines() if line.strip("│ ").startswith("boundary ")
    )
    assert "50.00" in boundary_row  # 1 of 2 predicted spans


def test_per_type_can_be_left_out() -> None:
    text = _render(scores_renderable(_scores(), per_type=False))
    assert "creative-work" not in text


def test_episodes_table_shows_mean_std_and_pooled() -> None:
    s = _scores()
    text = _render(episodes_table(aggregate_episodes([s, s])))
    assert "2 episodes" in text
    assert "50.00 ± 0.00" in text
    assert "pooled micro" in text


def test_scores_json_puts_meta_first() -> None:
    doc = scores_json(_scores(), gold="g.txt", pred="p.txt")
    assert list(doc)[:2] == ["gold", "pred"]
    assert doc["micro"]["f1"] == 0.5
