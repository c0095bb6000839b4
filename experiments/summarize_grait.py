"""Print the refusal-aware tuning table from the run folders of experiments/grait_conll.sh.

Usage: python experiments/summarize_grait.py OUT [--json]
Reads OUT/{base,sft,rait,grait,grait-gold}/test/metrics.json (span P/R/F1 and per-prompt rates) and
OUT/<run>.seconds; THS (fewner.eval.refusal.truthful_helpfulness) is computed against the base
run's test rates: THS = (c * w0 - w * c0) / w0 with (c, w) the run's correct and wrong rates,
(c0, w0) the base's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _table import fixed, plain, print_markdown

from fewner.eval.refusal import truthful_helpfulness

ROWS = [
    ("base (SFT on the base split only)", "base"),
    ("+ plain SFT on the refusal split", "sft"),
    ("+ refusal-aware SFT (RAIT: all unknown, weight 1)", "rait"),
    ("+ GRAIT (gradient selection + adaptive weights)", "grait"),
    ("+ GRAIT, unchosen unknown prompts keep gold", "grait-gold"),
]


def main(out: Path, as_json: bool) -> None:
    table = []
    base = None
    for name, key in ROWS:
        path = out / key / "test" / "metrics.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        prompts = metrics["prompts"]
        row = {
            "run": name,
            "key": key,
            "precision": metrics["precision"],
            "recall": metrics["recall"],
            "f1": metrics["f1"],
            "predicted_spans": metrics["scores"]["micro"]["predicted"],
            "prompts": prompts["prompts"],
            "correct_rate": prompts["correct_rate"],
            "wrong_rate": prompts["wrong_rate"],
            "refused_rate": prompts["refused_rate"],
        }
        if key == "base":
            base = row
        grait = out / key / "refusal" / "grait.json"
        if grait.is_file():
            row["grait"] = json.loads(grait.read_text())
        seconds = out / f"{key}.seconds"
        row["wall_seconds"] = int(seconds.read_text()) if seconds.is_file() else None
        table.append(row)
    for row in table:
        row["ths"] = (
            truthful_helpfulness(
                row["correct_rate"], row["wrong_rate"], base["correct_rate"], base["wrong_rate"]
            )
            if base is not None
            else None
        )
    if as_json:
        print(json.dumps(table, indent=2))
        return
    columns = [("run", plain("run"))]
    columns += [(h, fixed(k)) for h, k in (("P", "precision"), ("R", "recall"), ("F1", "f1"))]
    columns += [(k, fixed(f"{k}_rate")) for k in ("correct", "wrong", "refused")]
    print_markdown([*columns, ("THS", fixed("ths")), ("wall s", plain("wall_seconds"))], table)


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--json" in sys.argv[2:])
