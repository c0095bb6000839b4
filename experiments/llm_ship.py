"""Pack a source-stage run's model folder as fewner's shipped LLM extractor (package data).

    python experiments/llm_ship.py RUN/model [--out fewner/resources/models/smollm2-135m-ner]
        [--how "the commands that made RUN/model"] [--none-bias B --bias-note "where B came from"]

Copies the folder (fewner.json + the LoRA adapter: a source-train LoRA run's, or the adapter
``fewner extract-lora`` made from a fully trained run), drops peft's auto-written README,
adds the licence and how-it-was-trained notes to the manifest, and lists every file, the
manifest included, in SHA256SUMS (a shipped model's manifest is checked too). Prints the size
and loads the result once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "fewner/resources/models/smollm2-135m-ner"


def main() -> None:
    import fewner
    from fewner.predictors.manifest import Manifest

    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--how", default="`fewner source-train -o RUN` (fewner/resources/source/smollm2-source.yaml)",
                    help="how the folder was made, for the manifest's notes")
    ap.add_argument("--none-bias", type=float, default=None,
                    help="the served none_bias (choose it on dev data: experiments/none_bias_sweep.py)")
    ap.add_argument("--bias-note", default="", help="where --none-bias came from, for the notes")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(args.model, args.out)
    (args.out / "adapter" / "README.md").unlink(missing_ok=True)
    (args.out / "SHA256SUMS").unlink(missing_ok=True)
    manifest = Manifest.read(args.out, verify=False)
    licence = (manifest.training or {}).get("licence", "")
    adapter = json.loads((args.out / "adapter" / "adapter_config.json").read_text())
    targets = "/".join(sorted(m.removesuffix("_proj") for m in adapter["target_modules"]))
    extraction = (manifest.training or {}).get("extraction")
    what = (f"SmolLM2-135M-Instruct fully fine-tuned, then its weight changes truncated to a rank-{adapter['r']} "
            f"LoRA on {targets}" if extraction else
            f"SmolLM2-135M-Instruct + a rank-{adapter['r']} LoRA on {targets}")
    notes = [
        f"the broad source stage of the LLM extractor: {what}, trained once on 2 CPU cores with {args.how}",
        f"licence of the training data: {licence}; non-commercial use only",
        "prompts: obp-llm template, sentence first; labels without a definition get the generic one",
    ]
    settings = dict(manifest.settings)
    if args.none_bias is not None:
        if not args.bias_note:
            raise SystemExit("--none-bias needs --bias-note (the dev numbers it was chosen on)")
        settings["none_bias"] = args.none_bias
        notes.append(f"none_bias {args.none_bias:+.1f}: {args.bias_note}")
    manifest = replace(manifest, settings=settings, notes=[*manifest.notes, *notes])
    manifest.write(args.out)
    files = sorted(p for p in args.out.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(args.out)}" for p in files]
    (args.out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    size = sum(p.stat().st_size for p in files)
    print(f"{args.out}: {len(files)} files, {size / 1e6:.1f} MB")
    print(fewner.load(args.out))


if __name__ == "__main__":
    main()
