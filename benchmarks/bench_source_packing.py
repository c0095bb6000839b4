"""Packed source-stage sequences vs one sequence per (sentence, type), in one run.

The same dealt sentences of the shipped source mixture, encoded both ways; each variant trains
(forward + backward, bf16 autocast, LoRA) for the same questions, interleaved step by step so
machine noise hits both. Prints questions/s, training tokens/s, and the packed/unpacked ratio
of questions per second (what a CPU hour buys), and the loss of both on the first batch (equal
up to rounding: packing changes the cost, not the objective).

    python benchmarks/bench_source_packing.py --sentences 48 --threads 2
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=48)
    parser.add_argument("--batch-sentences", type=int, default=4, help="sentences per step")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from _common import source_stage

    from fewner.train.collate import collate
    from fewner.train.lora import LoraSettings, wrap
    from fewner.train.losses import build_loss_terms, forward_with_terms
    from fewner.train.packing import PackedNLL, collate_packed
    from fewner.train.source import build_items

    settings, examples, definitions, model, tokenizer = source_stage(args.sentences)
    model = wrap(model, LoraSettings.from_preset(settings.lora))
    settings.packing = True
    packed, _ = build_items(examples, settings, tokenizer, definitions)
    settings.packing = False
    single, _ = build_items(examples, settings, tokenizer, definitions)
    questions = sum(len(p.turns) for p in packed)
    assert questions == len(single), "both layouts must hold the same questions"
    nll = build_loss_terms([{"name": "nll"}], model)
    objective = PackedNLL()
    pad = tokenizer.pad_token_id

    def step(batch_fn) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = batch_fn()
        loss.backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    b = args.batch_sentences
    per_sentence = [len(p.turns) for p in packed]
    times = {"packed": 0.0, "single": 0.0}
    tokens = {"packed": sum(len(p) for p in packed), "single": sum(len(e) for e in single)}
    at = 0
    first_losses = None
    for k in range(0, len(packed), b):
        group = packed[k : k + b]
        n = sum(per_sentence[k : k + b])
        singles = single[at : at + n]
        at += n
        packed_batch = collate_packed(group, pad)
        single_batch = collate(singles, pad)
        times["packed"] += step(lambda pb=packed_batch: objective(model, pb)[0])
        times["single"] += step(lambda sb=single_batch: forward_with_terms(model, sb, nll)[0])
        if first_losses is None:
            with torch.no_grad():
                first_losses = (float(objective(model, packed_batch)[0]),
                                float(forward_with_terms(model, single_batch, nll)[0]))
    print(f"{len(packed)} sentences, {questions} questions, {args.threads} threads, bf16 autocast")
    print("| layout | sequences | tokens | seconds | questions/s | tokens/s |")
    print("|---|---|---|---|---|---|")
    for name, count in (("packed", len(packed)), ("single", len(single))):
        print(f"| {name} | {count} | {tokens[name]} | {times[name]:.1f} | "
              f"{questions / times[name]:.2f} | {tokens[name] / times[name]:.0f} |")
    print(f"packed / single, questions per second: {times['single'] / times['packed']:.2f}x")
    print(f"first batch loss: packed {first_losses[0]:.5f}, single {first_losses[1]:.5f}")


if __name__ == "__main__":
    main()
