"""Print the WNUT-17 5-shot table from the run folders written by experiments/wnut_5shot.sh.

Usage: python experiments/summarize.py OUT [--json]
Reads OUT/untrained/predictions.run/metrics.json and
OUT/{sft,sft-attn,sft-hidden,sft-attn-dpo}/test/metrics.json; wall seconds from OUT/<run>.seconds
(the shared source stage's time is printed below the table).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _table import fixed, plain, print_markdown

ROWS = [
    ("no training", "untrained/predictions.run/metrics.json", "untrained"),
    ("SFT", "sft/test/metrics.json", "sft"),
    ("SFT + attn_contrastive", "sft-attn/test/metrics.json", "sft-attn"),
    ("SFT + hidden_contrastive", "sft-hidden/test/metrics.json", "sft-hidden"),
    ("SFT + attn_contrastive + DPO", "sft-attn-dpo/test/metrics.json", "sft-attn-dpo"),
]


def _scores(metrics: dict) -> dict:
    return metrics.get("scores", metrics)


def main(out: Path, as_json: bool) -> None:
    table = []
    for name, rel, key in ROWS:
        path = out / rel
        if not path.is_file():
            continue
        scores = _scores(json.loads(path.read_text()))
        seconds = out / f"{key}.seconds"
        table.append(
            {
                "run": name,
                "precision": scores["micro"]["precision"],
                "recall": scores["micro"]["recall"],
                "f1": scores["micro"]["f1"],
                "predicted": scores["micro"]["predicted"],
                "boundary_error_rate": scores["boundary_errors"]["rate"],
                "wall_seconds": int(seconds.read_text()) if seconds.is_file() else None,
            }
        )
    if as_json:
        print(json.dumps(table, indent=2))
        return
    columns = [("run", plain("run"))]
    columns += [(h, fixed(k)) for h, k in (("P", "precision"), ("R", "recall"), ("F1", "f1"))]
    columns += [("predicted spans", plain("predicted"))]
    columns += [("boundary-error rate", fixed("boundary_error_rate"))]
    print_markdown([*columns, ("wall s", plain("wall_seconds"))], table)
    source = out / "source.seconds"
    if source.is_file():
        print(f"\nshared source stage: {int(source.read_text())} s (before each trained run)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--json" in sys.argv[2:])
