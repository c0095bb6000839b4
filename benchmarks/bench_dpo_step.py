"""DPO step time relative to an SFT step on SmolLM2-135M (LoRA, CPU or CUDA).

What is compared, on the same LoRA model (``obp-llm`` preset) and the same WNUT-17 5-shot
support set 0 (obp-llm-v1 prompts, wnut17 definitions), step by step interleaved so drifting
load hits both alike:

* **SFT step**: ``--batch-size`` examples (prompt + gold answer + EOS), the ``nll`` term,
  forward + backward + AdamW step — what the target stage does;
* **DPO step**: ``--batch-size`` boundary-shifted preference pairs of the same prompts
  (:func:`fewner.train.pairs.boundary_pairs`), i.e. ``2 x batch`` sequences in one forward pass
  (:class:`fewner.train.dpo.DPOObjective`: sigmoid DPO + 0.2 x NLL of the chosen answers),
  backward + AdamW step. The reference log-probs are precomputed once per pair (as the stage
  does), so a DPO step runs no reference model; that one-time cost is reported separately, per
  pair.

A DPO step scores twice as many sequences as an SFT step of the same batch size, so about 2x is
the expected ratio; the per-sequence ratio is printed too. Medians over ``--steps`` timed steps
after ``--warmup`` untimed rounds; wall and process CPU time.

    python benchmarks/bench_dpo_step.py --threads 2 --steps 4
    python benchmarks/bench_dpo_step.py --precision bf16 --steps 4   # bf16 autocast (AVX512-BF16 CPUs, CUDA)

Writes ``benchmarks/results/dpo_step.json`` (``--json`` elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from pathlib import Path

from _common import RESULTS, machine, write_json

SUPPORT = (
    Path(__file__).resolve().parents[2]
    / "shared/data/domain_transfer_support_sets/samples-wnut-5shot/0.txt"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--support", type=Path, default=SUPPORT)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="default: benchmarks/results/dpo_step.json")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fewner.data.io import read_corpus
    from fewner.models import hf_path
    from fewner.prompts import ExtractionFormat
    from fewner.train.collate import build_examples, collate
    from fewner.train.dpo import DPOObjective, collate_pairs, encode_pair, reference_logps
    from fewner.train.lora import PRESETS, trainable_parameters, wrap
    from fewner.train.losses import build_loss_terms, forward_with_terms
    from fewner.train.pairs import boundary_pairs

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start_machine = machine()
    path = hf_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = wrap(AutoModelForCausalLM.from_pretrained(path), PRESETS["obp-llm"])
    model.to(args.device).train()
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-5)
    autocast = (
        (lambda: torch.autocast(device_type=args.device.split(":")[0], dtype=torch.bfloat16))
        if args.precision == "bf16"
        else contextlib.nullcontext
    )

    sentences = list(read_corpus(args.support))
    types = sorted({s.label for sent in sentences for s in sent.spans})
    fmt = ExtractionFormat("obp-llm-v1", "wnut17")
    examples = build_examples(sentences, types, fmt, tokenizer).examples
    pairs = boundary_pairs(sentences, types, fmt, per_example=2, seed=args.seed).pairs
    rng = random.Random(args.seed)
    rng.shuffle(examples)
    rng.shuffle(pairs)
    n = (args.warmup + args.steps) * args.batch_size
    examples = (examples * (n // len(examples) + 1))[:n]
    encoded = [encode_pair(fmt, tokenizer, p) for p in (pairs * (n // len(pairs) + 1))[:n]]

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    sync()
    t0 = time.perf_counter()
    encoded = reference_logps(
        model, encoded, tokenizer.pad_token_id, batch_size=args.batch_size, autocast=autocast
    )
    sync()
    reference_s_per_pair = (time.perf_counter() - t0) / len(encoded)

    def to_device(batch):
        return {k: v.to(args.device) for k, v in batch.items()}

    sft_batches = [
        to_device(collate(examples[i : i + args.batch_size], tokenizer.pad_token_id))
        for i in range(0, n, args.batch_size)
    ]
    dpo_batches = [
        to_device(collate_pairs(encoded[i : i + args.batch_size], tokenizer.pad_token_id))
        for i in range(0, n, args.batch_size)
    ]
    terms = build_loss_terms([{"name": "nll"}], model)
    objective = DPOObjective(0.1, 0.2)

    def step(run) -> tuple[float, float]:
        sync()
        w0, c0 = time.perf_counter(), time.process_time()
        with autocast():
            loss, _ = run()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        return time.perf_counter() - w0, time.process_time() - c0

    wall: dict[str, list[float]] = {"sft": [], "dpo": []}
    cpu: dict[str, list[float]] = {"sft": [], "dpo": []}
    for i, (sft_batch, dpo_batch) in enumerate(zip(sft_batches, dpo_batches, strict=True)):
        runs = {
            "sft": lambda b=sft_batch: forward_with_terms(model, b, terms),
            "dpo": lambda b=dpo_batch: objective(model, b),
        }
        order = ["sft", "dpo"] if i % 2 == 0 else ["dpo", "sft"]  # ABBA
        line = []
        for name in order:
            w, c = step(runs[name])
            line.append(f"{name} {w:.2f}s/{c:.2f}cpu-s")
            if i >= args.warmup:
                wall[name].append(w)
                cpu[name].append(c)
        print(f"round {i} ({'warm-up' if i < args.warmup else 'timed'}): " + "  ".join(line))

    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    tokens = {
        "sft": [int(b["attention_mask"].sum()) for b in sft_batches[args.warmup :]],
        "dpo": [int(b["attention_mask"].sum()) for b in dpo_batches[args.warmup :]],
    }
    ratio = med["dpo"] / med["sft"]
    token_ratio = sum(tokens["dpo"]) / sum(tokens["sft"])
    summary = {
        "machine": start_machine,
        "loadavg_at_end": machine().get("loadavg_at_start"),
        "model": args.model,
        "device": args.device,
        "precision": args.precision,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "timed_steps": args.steps,
        "median_step_s": {k: round(v, 3) for k, v in med.items()},
        "median_cpu_s": {k: round(v, 3) for k, v in med_cpu.items()},
        "step_s": {k: [round(x, 3) for x in v] for k, v in wall.items()},
        "tokens_per_step": tokens,
        "dpo_over_sft_step": round(ratio, 3),
        "dpo_over_sft_cpu": round(med_cpu["dpo"] / med_cpu["sft"], 3),
        "tokens_dpo_over_sft": round(token_ratio, 3),
        "dpo_over_sft_per_token": round(ratio / token_ratio, 3),
        "reference_logps_s_per_pair": round(reference_s_per_pair, 4),
    }
    print(
        f"SFT step {med['sft']:.2f} s, DPO step {med['dpo']:.2f} s: DPO/SFT {ratio:.2f}x "
        f"(cpu {summary['dpo_over_sft_cpu']:.2f}x); tokens per step {token_ratio:.2f}x, "
        f"so {summary['dpo_over_sft_per_token']:.2f}x per token; reference log-probs once: "
        f"{reference_s_per_pair * 1000:.0f} ms per pair"
    )
    print("wrote", write_json("dpo_step", summary, args.json or RESULTS / "dpo_step.json"))


if __name__ == "__main__":
    main()
