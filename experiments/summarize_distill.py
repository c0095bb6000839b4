"""Print and write the distillation summary of the run folders of experiments/distill_conll.sh.

Usage: python experiments/summarize_distill.py OUT

Reads OUT/annotations/*.run/{metrics,config}.json (teacher annotation quality: micro P/R/F1,
answer statuses, sentences per second, dropped mentions) and OUT/group-*/metrics.json (each
student group's test micro scores, speed and epoch records), prints one line per run and writes
both to OUT/summary.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DROPPED = ("not_found", "unaligned", "overlap", "unknown_type")


def annotation_rows(out: Path) -> dict[str, dict]:
    """Per teacher annotation run (folder name): teacher, style and the scores of its output."""
    table = {}
    for path in sorted((out / "annotations").glob("*.run/metrics.json")):
        metrics = json.loads(path.read_text())
        config = json.loads((path.parent / "config.json").read_text())
        table[path.parent.name] = {
            "teacher": config["model"],
            "style": config["style"],
            "sentences": metrics["sentences"],
            "micro": metrics.get("scores", {}).get("micro", {}),
            "statuses": metrics["statuses"],
            "sentences_per_second": metrics.get("sentences_per_second"),
            "dropped": {k: metrics["stats"].get(k, 0) for k in DROPPED},
        }
    return table


def student_rows(out: Path) -> dict[str, dict]:
    """Per student group (folder name): schedule, data and test scores of its run."""
    table = {}
    for path in sorted(out.glob("group-*/metrics.json")):
        metrics = json.loads(path.read_text())
        table[path.parent.name] = {
            "schedule": metrics["schedule"],
            "epochs": metrics["training"]["epochs"],
            "data": metrics["data"],
            "test_micro": metrics.get("test", {}).get("micro", {}),
            "test_sentences_per_second": metrics.get("test_inference", {}).get(
                "sentences_per_second"
            ),
            "epoch_records": metrics["training"]["epoch_records"],
        }
    return table


def main(out: Path) -> None:
    summary = {"annotation": annotation_rows(out), "students": student_rows(out)}
    for name, r in summary["annotation"].items():
        s = r["micro"]
        print(
            f"{name:40s} {r['sentences']:5d} sent  P {s.get('precision', 0):.3f} "
            f"R {s.get('recall', 0):.3f} F1 {s.get('f1', 0):.3f}  "
            f"{r['sentences_per_second'] or 0:.2f} sent/s  statuses {r['statuses']}"
        )
    for name, r in summary["students"].items():
        s = r["test_micro"]
        print(
            f"{name:10s} {r['schedule']:12s} epochs {r['epochs']:3d}  "
            f"test P {s.get('precision', 0):.4f} R {s.get('recall', 0):.4f} "
            f"F1 {s.get('f1', 0):.4f}  ({r['test_sentences_per_second']} sent/s)"
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out / 'summary.json'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
