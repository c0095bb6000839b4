"""Pack a pre-trained span model as fewner's shipped model (package data).

    python experiments/span_ship.py RUN/model [--rank 64] [--out fewner/resources/models/fewner-span-minilm]

The encoder is stored as a rank-r float16 difference from the catalogue MiniLM
(:mod:`fewner.spanmodel.delta`), the heads whole; the manifest keeps the pre-training record and
the mixture's licence note, and ``SHA256SUMS`` lists every file. Prints the folder's size.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "fewner/resources/models/fewner-span-minilm"


def main() -> None:
    from fewner.predictors import load_folder

    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    predictor = load_folder(args.model)
    predictor.save_delta_rank = args.rank
    predictor.notes = [*predictor.notes, f"encoder stored as a rank-{args.rank} float16 difference from minilm-l6"]
    if args.out.exists():
        shutil.rmtree(args.out)
    predictor.save(args.out)
    files = sorted(p for p in args.out.rglob("*") if p.is_file())
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(args.out)}" for p in files]
    (args.out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    size = sum(p.stat().st_size for p in files)
    print(f"{args.out}: {len(files)} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
