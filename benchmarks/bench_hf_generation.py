"""Batched vs one-at-a-time generation throughput of the HF backend on SmolLM2-135M (CPU).

Why: the extraction methods send one prompt per (sentence, entity type); batching with left
padding is what makes that affordable. Prompts: the first ``--sentences`` WNUT-17 test sentences
(at least 5 tokens) x 4 entity types, with an extraction-style prompt in the chat template.
Both runs are greedy with the same limits, so their outputs must be identical (checked).

    python benchmarks/bench_hf_generation.py --sentences 64 --threads 2

The summary also goes to ``benchmarks/results/hf_generation.json`` (``--json`` elsewhere).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

TYPES = ["person", "location", "group", "product"]


def wnut_sentences(path: Path, n: int) -> list[str]:
    sentences, tokens = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.strip():
            tokens.append(line.split("\t")[0])
        elif tokens:
            if len(tokens) >= 5:
                sentences.append(" ".join(tokens))
            tokens = []
        if len(sentences) == n:
            break
    return sentences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared/data/wnut17/emerging.test.annotated",
    )
    ap.add_argument("--sentences", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument(
        "--single-limit",
        type=int,
        default=32,
        help="prompts timed one at a time (the rate is extrapolated)",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, help="default: benchmarks/results/hf_generation.json")
    args = ap.parse_args()

    import torch

    from fewner.backends.base import GenerationParams
    from fewner.backends.hf import HFBackend

    torch.set_num_threads(args.threads)
    backend = HFBackend(args.model, batch_size=args.batch_size, device=args.device)
    sentences = wnut_sentences(args.data, args.sentences)
    prompts = [
        backend.chat_prompt(
            f"Text: {s}\nList every {t} mentioned in the text, one per line, exactly as written. "
            "Answer 'none' if there is none."
        )
        for s in sentences
        for t in TYPES
    ]
    params = GenerationParams(max_new_tokens=args.max_new_tokens, stop=("\n\n",))
    backend.generate(prompts[:2], params)  # warm-up: load weights, first-call overheads

    t0 = time.perf_counter()
    batched = backend.generate(prompts, params)
    t_batched = time.perf_counter() - t0

    subset = prompts[: args.single_limit]
    t0 = time.perf_counter()
    single = [backend.generate([p], params)[0] for p in subset]
    t_single = time.perf_counter() - t0

    rate_b = len(prompts) / t_batched
    rate_s = len(subset) / t_single
    same = sum(a == b for a, b in zip(batched, single, strict=False))
    print(
        f"model={backend.model_id} device={backend.device} threads={args.threads} batch_size={args.batch_size}"
    )
    print(f"prompts={len(prompts)} max_new_tokens={args.max_new_tokens}")
    print(f"batched:    {t_batched:7.1f} s  {rate_b:6.2f} prompts/s")
    print(f"one-by-one: {t_single:7.1f} s for {len(subset)}  {rate_s:6.2f} prompts/s")
    print(f"speed-up: {rate_b / rate_s:.2f}x   identical outputs: {same}/{len(subset)}")
    from _common import machine, write_json

    summary = {
        "machine": machine(),
        "model": backend.model_id,
        "device": str(backend.device),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "batched_s": round(t_batched, 2),
        "batched_prompts_per_s": round(rate_b, 2),
        "single_prompts": len(subset),
        "single_s": round(t_single, 2),
        "single_prompts_per_s": round(rate_s, 2),
        "speedup": round(rate_b / rate_s, 2),
        "identical_outputs": same,
    }
    print("wrote", write_json("hf_generation", summary, args.json))


if __name__ == "__main__":
    main()
