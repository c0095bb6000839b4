"""What length-grouped batches and the answers-only vocabulary head save in source training.

Two measurements in one run, on the shipped source mixture's dealt epoch (packed sequences):

1. **Padding** (exact, no training): the tokens a whole epoch's forward passes compute, batches
   in plain shuffled order vs ``group_by_length`` (fewner/train/loop.py ``epoch_batches``).
2. **Seconds per computed token** (timed, forward + backward, bf16 autocast, full fine-tuning as
   the shipped model is trained): the same batches under the full-vocabulary objective (every
   position's logits) and under :class:`~fewner.train.packing.PackedNLL` (the head on the
   answer positions only), interleaved step by step so machine noise hits both; plus plain
   shuffled batches, to show the cost follows the padded length.

Prints both, and the estimated epoch time ratio (new / old): padded tokens ratio x seconds per
token ratio.

    python benchmarks/bench_source_batching.py --steps 10 --threads 2
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed batches per variant")
    parser.add_argument("--batch-size", type=int, default=4, help="packed sentences per batch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    from _common import source_stage

    from fewner.train.loop import epoch_batches
    from fewner.train.packing import PackedNLL, collate_packed
    from fewner.train.source import build_items

    settings, examples, definitions, model, tokenizer = source_stage()
    model.train()
    items, counts = build_items(examples, settings, tokenizer, definitions)
    lengths = [len(x) for x in items]
    b = args.batch_size

    def padded(batches: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)

    plain = epoch_batches(lengths, b, settings.seed, 0)
    grouped = epoch_batches(lengths, b, settings.seed, 0, by_length=True)
    real = sum(lengths)
    print(f"{len(items)} packed sentences, {real:,} tokens, batches of {b}")
    print("| batches | computed tokens per epoch | / real tokens |")
    print("|---|---|---|")
    for name, batches in (("shuffled", plain), ("group_by_length", grouped)):
        print(f"| {name} | {padded(batches):,} | {padded(batches) / real:.3f} |")
    pad_ratio = padded(grouped) / padded(plain)

    pad = tokenizer.pad_token_id
    packed_nll = PackedNLL()

    def full_vocab(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       position_ids=batch["position_ids"], use_cache=False).logits
        target = batch["labels"][:, 1:]
        rows, cols = (target != -100).nonzero(as_tuple=True)
        return F.cross_entropy(logits[rows, cols].float(), target[rows, cols])

    def step(loss_fn, batch) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(batch)
        loss.backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    spread = max(1, len(grouped) // args.steps)
    picks = list(range(0, len(grouped), spread))[: args.steps]
    seconds = {"full vocabulary, shuffled": 0.0, "full vocabulary, grouped": 0.0, "answers only, grouped": 0.0}
    tokens = dict.fromkeys(seconds, 0)
    for k in picks:
        g = collate_packed([items[i] for i in grouped[k]], pad)
        p = collate_packed([items[i] for i in plain[k]], pad)
        for name, fn, batch in (("full vocabulary, shuffled", full_vocab, p),
                                ("full vocabulary, grouped", full_vocab, g),
                                ("answers only, grouped", lambda x: packed_nll(model, x)[0], g)):
            seconds[name] += step(fn, batch)
            tokens[name] += batch["input_ids"].numel()
    print(f"\n{len(picks)} batches per variant, {args.threads} threads, bf16 autocast, full fine-tuning")
    print("| objective, batches | computed tokens | seconds | ms per computed token |")
    print("|---|---|---|---|")
    for name in seconds:
        print(f"| {name} | {tokens[name]:,} | {seconds[name]:.1f} | {1000 * seconds[name] / tokens[name]:.2f} |")
    per_token = {k: seconds[k] / tokens[k] for k in seconds}
    head_ratio = per_token["answers only, grouped"] / per_token["full vocabulary, grouped"]
    print(f"\ncomputed tokens, grouped / shuffled: {pad_ratio:.3f}")
    print(f"seconds per computed token, answers-only head / full vocabulary: {head_ratio:.3f}")
    print(f"estimated epoch time, new / old: {pad_ratio * head_ratio:.3f}")


if __name__ == "__main__":
    main()
