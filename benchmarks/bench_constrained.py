"""Overhead and validity of substring-constrained greedy generation (SmolLM2-135M, transformers).

Why: the constraint must cost at most ~10 % of generation time and must never let a mention
through that is not a substring of the input. Prompts: the first ``--sentences`` WNUT-17 test
sentences, one entity type each (rotating), an OBP-LLM-style extraction prompt in the chat
template, left-padded batches. Each batch is generated twice, greedy, with the same limits:
without and with :class:`~fewner.decoding.hf.SubstringLogitsProcessor`.

Reported: wall time and ms per generated token of both runs, the time spent inside the processor
(its share of the constrained run is the overhead: everything else is the same forward passes),
constrained outputs with a non-substring mention (must be 0) and, for contrast, how many
mentions :meth:`Constraint.filter` would remove from the unconstrained outputs.

    python benchmarks/bench_constrained.py --sentences 200 --batch 16 --plain-sentences 48
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TYPES = ["location", "person", "corporation", "product", "creative-work", "group"]
PROMPT = (
    "Extract all {type} entities from the sentence. Answer exactly in the format "
    '"The entities I extracted for you are <<< entity >>> <<< entity >>>", or '
    '"There are no entities of this type in the sentence."\nSentence: {text}'
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared/data/wnut17/emerging.test.annotated",
    )
    ap.add_argument("--sentences", type=int, default=40)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument(
        "--plain-sentences",
        type=int,
        help="run the unconstrained comparison on only this many sentences (default: all)",
    )
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write the summary here too")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

    from fewner.data.io import read_corpus
    from fewner.decoding import OBP_GRAMMAR, Constraint, TokenIndex
    from fewner.decoding.hf import SubstringLogitsProcessor
    from fewner.models import hf_path

    torch.set_num_threads(args.threads)
    folder = hf_path(args.model)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    sents = [s for s in read_corpus(args.data) if len(s.tokens) >= 5][: args.sentences]
    t0 = time.perf_counter()
    TokenIndex.for_tokenizer(tok)
    index_s = time.perf_counter() - t0

    totals = {"plain_s": 0.0, "plain_tokens": 0, "cons_s": 0.0, "cons_tokens": 0, "proc_s": 0.0}
    bad, ended, removed_plain, mentions = [], 0, 0, 0
    for b in range(0, len(sents), args.batch):
        batch = sents[b : b + args.batch]
        prompts = [
            tok.apply_chat_template(
                [{"role": "user", "content": PROMPT.format(type=TYPES[(b + i) % 6], text=s.text)}],
                tokenize=False,
                add_generation_prompt=True,
            )
            for i, s in enumerate(batch)
        ]
        enc = tok(prompts, return_tensors="pt", padding=True)
        width = enc.input_ids.shape[1]
        cons = [Constraint.for_sentence(s) for s in batch]
        plain = args.plain_sentences is None or b < args.plain_sentences
        for constrained in (False, True) if plain else (True,):
            proc = SubstringLogitsProcessor(cons, tok) if constrained else None
            t = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=args.max_new_tokens,
                    do_sample=False,
                    logits_processor=LogitsProcessorList([proc]) if proc else None,
                )
            dt = time.perf_counter() - t
            new = out[:, width:]
            n_tokens = int((new != tok.pad_token_id).sum())
            texts = tok.batch_decode(new, skip_special_tokens=True)
            key = "cons" if constrained else "plain"
            totals[f"{key}_s"] += dt
            totals[f"{key}_tokens"] += n_tokens
            for s, c, text, row in zip(batch, cons, texts, new.tolist(), strict=True):
                found = OBP_GRAMMAR.mentions_in(text)
                if not constrained:
                    removed_plain += sum(c.filter(text)[1].values())
                    continue
                mentions += len(found)
                ended += tok.eos_token_id in row
                complete = tok.eos_token_id in row and c.accepts(text)
                if any(m not in s.text for m in found) or not (complete or c.is_prefix(text)):
                    bad.append({"sentence": s.text, "output": text})
            if proc:
                totals["proc_s"] += proc.seconds
        print(f"{b + len(batch)}/{len(sents)} sentences", flush=True)

    summary = {
        "sentences": len(sents),
        "batch": args.batch,
        "threads": args.threads,
        "token_index_build_s": round(index_s, 3),
        "plain_sentences": args.plain_sentences or len(sents),
        "plain_ms_per_token": round(1e3 * totals["plain_s"] / max(1, totals["plain_tokens"]), 2),
        "constrained_ms_per_token": round(
            1e3 * totals["cons_s"] / max(1, totals["cons_tokens"]), 2
        ),
        "processor_ms_per_token": round(1e3 * totals["proc_s"] / max(1, totals["cons_tokens"]), 3),
        "processor_share_of_constrained_time": round(totals["proc_s"] / totals["cons_s"], 4),
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in totals.items()},
        "constrained_mentions": mentions,
        "constrained_rows_ended_with_eos": ended,
        "constrained_invalid_outputs": len(bad),
        "unconstrained_mentions_filter_would_remove": removed_plain,
        "invalid_examples": bad[:5],
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
