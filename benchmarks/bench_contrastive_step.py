"""LoRA step time with each contrastive term vs plain SFT (nll) on SmolLM2-135M (CPU).

Why: the issue's budget is <= 15% step-time overhead for ``attn_contrastive`` and
``hidden_contrastive`` over plain SFT. Both terms read activations the forward pass computes
anyway (hooked q/k projections, hidden states), so their cost is a few small batched tensor ops
plus their share of the backward pass.

What is timed: one full training step, as the loop does it — :func:`forward_with_terms` (one
forward pass, hooks/hidden states as the terms ask), ``backward()``, ``AdamW.step()``,
``zero_grad()`` — for three term lists on the *same* batches and the same LoRA model (``obp-llm``
preset: r=8 on q/k/v/o):

* ``nll``
* ``nll + attn_contrastive`` (weight 0.01, layer 0.8)
* ``nll + hidden_contrastive`` (weight 0.001, layer 0.8)

Batches: ``--batch-size`` examples (default 8) of the WNUT-17 5-shot support set 0 (23 sentences
x 6 types, obp-llm-v1 prompts with the wnut17 definitions), shuffled with ``--seed``; batch ``i``
is the same for every configuration. The configurations are interleaved step by step (batch i:
nll, attn, hidden; batch i+1: ...) so that drifting load on a shared machine hits all of them
alike; the summary takes medians over the timed steps, after ``--warmup`` untimed rounds.
Both wall time and process CPU time are recorded: on a loaded shared machine the wall time of
one step swings by tens of percent, the CPU time much less. The seconds spent inside the
contrastive term calls (their forward-side arithmetic) are reported too.

    python benchmarks/bench_contrastive_step.py --threads 2 --steps 5
    python benchmarks/bench_contrastive_step.py --threads 1 --steps 4 \
        --json benchmarks/results/contrastive_step_1thread.json

On a 2-core machine shared with other jobs, 2 torch threads made whole steps 3-7x slower than
1 thread and their times swing by +-50% (measured: 25-112 s vs 10.0-10.7 s per step), which
hides a 15% difference; the 1-thread run and the isolated term cost are the readable numbers.

Writes ``benchmarks/results/contrastive_step.json`` (``--json`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
SUPPORT = SHARED / "domain_transfer_support_sets/samples-wnut-5shot/0.txt"
RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = {
    "nll": [{"name": "nll"}],
    "nll+attn_contrastive": [{"name": "nll"}, {"name": "attn_contrastive"}],
    "nll+hidden_contrastive": [{"name": "nll"}, {"name": "hidden_contrastive"}],
}


def machine() -> dict:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    return {
        "cpu_cores": cores,
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


class Timed:
    """A loss term that adds the time of its own calls to ``seconds`` (forward-side cost only)."""

    def __init__(self, term) -> None:
        self.term = term
        self.seconds = 0.0

    def __getattr__(self, name: str):
        return getattr(self.term, name)

    def __call__(self, *args):
        t0 = time.perf_counter()
        out = self.term(*args)
        self.seconds += time.perf_counter() - t0
        return out


def isolated_term_ms(model, batch, terms, repeats: int = 20) -> float:
    """Median ms of the terms' own forward + backward arithmetic, on detached activations.

    The forward pass is run once (untimed); the activations the terms read are copied into
    fresh leaf tensors, and only ``term(...)`` and its ``backward()`` are timed. This is the
    extra work a contrastive term adds to a step: the model's own backward path is the one the
    nll gradient already takes (the term's gradient joins it at the hooked activations). Unlike
    whole-step wall times, it is barely moved by other load on the machine.
    """
    from types import SimpleNamespace

    import torch

    from fewner.train.capture import capture_outputs

    modules = {name: module for t in terms for name, module in t.captures(model)}
    with torch.no_grad(), capture_outputs(modules) as captured:
        outputs = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
            use_cache=False,
        )
    samples = []
    for _ in range(repeats):
        leaf_captured = {k: v.detach().clone().requires_grad_() for k, v in captured.items()}
        leaf_outputs = SimpleNamespace(
            hidden_states=tuple(h.detach().clone().requires_grad_() for h in outputs.hidden_states)
        )
        t0 = time.perf_counter()
        loss = sum(t(batch, leaf_outputs, leaf_captured)[0] for t in terms)
        loss.backward()
        samples.append(time.perf_counter() - t0)
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--support", type=Path, default=SUPPORT)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="default: benchmarks/results/contrastive_step.json")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fewner.data.io import read_corpus
    from fewner.models import hf_path
    from fewner.prompts import ExtractionFormat
    from fewner.train.collate import build_examples, collate
    from fewner.train.lora import PRESETS, trainable_parameters, wrap
    from fewner.train.losses import build_loss_terms, forward_with_terms

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start_machine = machine()
    path = hf_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = wrap(AutoModelForCausalLM.from_pretrained(path), PRESETS["obp-llm"])
    model.to(args.device).train()
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-4)

    sentences = list(read_corpus(args.support))
    types = sorted({s.label for sent in sentences for s in sent.spans})
    fmt = ExtractionFormat("obp-llm-v1", "wnut17")
    examples = build_examples(sentences, types, fmt, tokenizer).examples
    random.Random(args.seed).shuffle(examples)
    n_batches = args.warmup + args.steps
    need = n_batches * args.batch_size
    examples = (examples * (need // len(examples) + 1))[:need]
    batches = [
        {
            k: v.to(args.device)
            for k, v in collate(examples[i : i + args.batch_size], tokenizer.pad_token_id).items()
        }
        for i in range(0, need, args.batch_size)
    ]
    terms = {
        name: [Timed(t) for t in build_loss_terms(specs, model)] for name, specs in CONFIGS.items()
    }
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def step(batch, term_list) -> tuple[float, float, float]:
        """Wall seconds, process CPU seconds, and seconds spent inside the term calls."""
        for t in term_list:
            t.seconds = 0.0
        sync()
        w0, c0 = time.perf_counter(), time.process_time()
        loss, _ = forward_with_terms(model, batch, term_list)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        return (
            time.perf_counter() - w0,
            time.process_time() - c0,
            sum(t.seconds for t in term_list if t.name != "nll"),
        )

    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    term_s: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for i, batch in enumerate(batches):
        line = []
        for name, term_list in terms.items():
            wall, proc, inside = step(batch, term_list)
            line.append(f"{name}={wall:.2f}s/{proc:.2f}cpu-s")
            if i >= args.warmup:
                times[name].append(wall)
                cpu[name].append(proc)
                term_s[name].append(inside)
        kind = "warm-up" if i < args.warmup else "timed"
        print(
            f"batch {i} ({kind}, {tuple(batch['input_ids'].shape)}): " + "  ".join(line), flush=True
        )

    base = statistics.median(times["nll"])
    base_cpu = statistics.median(cpu["nll"])
    isolated = {
        name: isolated_term_ms(model, batches[-1], [t.term for t in ts if t.name != "nll"])
        for name, ts in terms.items()
        if name != "nll"
    }
    summary = {
        "machine": start_machine,
        "loadavg_at_end": machine()["loadavg"],
        "model": args.model,
        "device": args.device,
        "threads": args.threads,
        "lora": "obp-llm preset (r=8, alpha=16, q/k/v/o)",
        "batch_size": args.batch_size,
        "tokens_per_batch": [int(b["attention_mask"].sum()) for b in batches[args.warmup :]],
        "padded_shapes": [list(b["input_ids"].shape) for b in batches[args.warmup :]],
        "warmup_rounds": args.warmup,
        "timed_steps": args.steps,
        "terms": {name: [t.term.spec() for t in ts] for name, ts in terms.items()},
        "median_step_s": {n: round(statistics.median(t), 3) for n, t in times.items()},
        "step_s": {n: [round(x, 3) for x in t] for n, t in times.items()},
        "overhead_vs_nll": {
            n: round(statistics.median(t) / base - 1.0, 4) for n, t in times.items() if n != "nll"
        },
        "median_cpu_s": {n: round(statistics.median(t), 3) for n, t in cpu.items()},
        "cpu_overhead_vs_nll": {
            n: round(statistics.median(t) / base_cpu - 1.0, 4) for n, t in cpu.items() if n != "nll"
        },
        "contrastive_term_s_median": {
            n: round(statistics.median(t), 4) for n, t in term_s.items() if n != "nll"
        },
        "isolated_term_fwd_bwd_ms": isolated,
        "isolated_overhead_vs_nll_cpu": {
            n: round(ms / 1000 / base_cpu, 4) for n, ms in isolated.items()
        },
        "paired_overhead_median": {
            n: round(
                statistics.median(a / b - 1.0 for a, b in zip(t, times["nll"], strict=True)), 4
            )
            for n, t in times.items()
            if n != "nll"
        },
        "target_overhead": 0.15,
    }
    for name in CONFIGS:
        note = ""
        if name != "nll":
            note = (
                f"  overhead wall {summary['overhead_vs_nll'][name]:+.1%}"
                f" (paired {summary['paired_overhead_median'][name]:+.1%})"
                f" cpu {summary['cpu_overhead_vs_nll'][name]:+.1%};"
                f" term itself {summary['contrastive_term_s_median'][name] * 1000:.1f} ms fwd,"
                f" {isolated[name]:.1f} ms fwd+bwd"
            )
        print(
            f"{name:24s} median {summary['median_step_s'][name]:.2f} s wall,"
            f" {summary['median_cpu_s'][name]:.2f} cpu-s{note}"
        )
    out = args.json or RESULTS / "contrastive_step.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print("wrote", out)


if __name__ == "__main__":
    main()
