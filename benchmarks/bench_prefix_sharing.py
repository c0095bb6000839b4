"""Shared sentence prefix vs one full prompt per entity type (SmolLM2-135M, HF and llama.cpp).

Why: with the sentence first and the entity type last, the prompts of one sentence share
everything but their last few tokens. The HF backend's ``prefix_sharing`` computes that
prefix's KV cache once per sentence and copies it to the sentence's rows; llama.cpp reuses the
KV cache of the previous prompt's common prefix (``prefix_reuse``). Target: >= 2x for 4 types.

Prompts: the first ``--sentences`` WNUT-17 test sentences (>= 5 tokens) x 4 types, chat
template, sentence-major. Greedy, same limits; the outputs of each pair must agree (counted).
Each variant runs ``--repeat`` times in alternating order and the fastest run counts (the
machine is shared); all run times go to the JSON.

    python benchmarks/bench_prefix_sharing.py --sentences 64 --threads 2
"""

from __future__ import annotations

import json
from pathlib import Path

from _common import (
    RESULTS,
    TYPES,
    alternate,
    generation_arguments,
    machine,
    sentence_first_prompts,
    wnut_sentences,
    write_json,
)


def main() -> None:
    ap = generation_arguments(__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of each (alternating)")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--skip-llamacpp", action="store_true")
    ap.add_argument("--json", type=Path, help="default: benchmarks/results/prefix_sharing.json")
    args = ap.parse_args()

    import torch

    from fewner.backends.base import GenerationParams
    from fewner.backends.hf import HFBackend
    from fewner.backends.prefix import group_by_prefix

    torch.set_num_threads(args.threads)
    out = args.json or RESULTS / "prefix_sharing.json"
    summary: dict = {"threads": args.threads, "types": TYPES, "sentences": args.sentences}
    if (args.skip_hf or args.skip_llamacpp) and out.is_file():
        kept = json.loads(out.read_text(encoding="utf-8"))  # keep the section not rerun
        summary.update({k: kept[k] for k in ("hf", "llamacpp") if k in kept})
    params = GenerationParams(max_new_tokens=args.max_new_tokens, stop=("\n\n",))
    sentences = wnut_sentences(args.sentences)

    if not args.skip_hf:
        hf = HFBackend(args.model, batch_size=args.batch_size, device=args.device, dtype=args.dtype)
        prompts = sentence_first_prompts(hf.chat_prompt, sentences, TYPES)
        encoded = [hf.encode(p) for p in prompts]
        groups = group_by_prefix(encoded, args.batch_size)
        prompt_tokens = sum(map(len, encoded))
        unshared = sum(len(encoded[i]) - g.prefix_len for g in groups for i in g.rows)
        unshared += sum(g.prefix_len for g in groups)
        hf.generate(prompts[:2], params)  # warm-up: load weights, first-call overheads

        def run(sharing: bool):  # type: ignore[no-untyped-def]
            def go() -> list[str]:
                hf.prefix_sharing = sharing
                return hf.generate(prompts, params)

            return go

        outs, times = alternate({"plain": run(False), "shared": run(True)}, args.repeat)
        plain, shared = outs["plain"], outs["shared"]
        t_plain, t_shared = min(times["plain"]), min(times["shared"])
        same = sum(a == b for a, b in zip(plain, shared, strict=True))
        summary["hf"] = {
            "machine": machine(),
            "model": hf.model_id,
            "device": str(hf.device),
            "batch_size": args.batch_size,
            "prompts": len(prompts),
            "max_new_tokens": args.max_new_tokens,
            "prompt_tokens": prompt_tokens,
            "prompt_tokens_computed_shared": unshared,
            "groups": len(groups),
            "plain_s": round(t_plain, 2),
            "shared_s": round(t_shared, 2),
            "all_runs_s": times,
            "speedup": round(t_plain / t_shared, 2),
            "identical_outputs": same,
            "differing_examples": [
                {"prompt": prompts[i][-80:], "plain": plain[i], "shared": shared[i]}
                for i in range(len(prompts))
                if plain[i] != shared[i]
            ][:3],
        }
        print(
            f"hf {hf.model_id} device={hf.device} threads={args.threads} "
            f"batch={args.batch_size} prompts={len(prompts)} max_new_tokens={args.max_new_tokens}"
        )
        print(
            f"  prompt tokens {prompt_tokens}, computed with sharing {unshared} "
            f"({prompt_tokens / unshared:.2f}x fewer), {len(groups)} groups"
        )
        print(f"  plain:  {t_plain:7.1f} s   {len(prompts) / t_plain:6.2f} prompts/s")
        print(f"  shared: {t_shared:7.1f} s   {len(prompts) / t_shared:6.2f} prompts/s")
        print(f"  speed-up {t_plain / t_shared:.2f}x   identical outputs {same}/{len(prompts)}")
        print(f"  all runs (s): {times}")
        hf.close()
        write_json("prefix_sharing", summary, out)  # saved now: the llama.cpp part is long

    if not args.skip_llamacpp:
        from fewner.backends.llamacpp import LlamaCppBackend

        llm = LlamaCppBackend(args.model, n_threads=args.llama_threads or args.threads)
        lprompts = sentence_first_prompts(llm.chat_prompt, sentences, TYPES)
        llm.generate(lprompts[:1], params)  # warm-up

        def lrun(reuse: bool):  # type: ignore[no-untyped-def]
            def go() -> list[str]:
                llm.prefix_reuse = reuse
                return llm.generate(lprompts, params)

            return go

        louts, ltimes = alternate({"off": lrun(False), "on": lrun(True)}, args.repeat)
        llm.close()
        off, on = louts["off"], louts["on"]
        t_off, t_on = min(ltimes["off"]), min(ltimes["on"])
        same_l = sum(a == b for a, b in zip(off, on, strict=True))
        summary["llamacpp"] = {
            "machine": machine(),
            "model": llm.model_id,
            "threads": args.llama_threads or args.threads,
            "prompts": len(lprompts),
            "reuse_off_s": round(t_off, 2),
            "reuse_on_s": round(t_on, 2),
            "speedup": round(t_off / t_on, 2),
            "all_runs_s": ltimes,
            "identical_outputs": same_l,
        }
        print(f"llamacpp threads={args.llama_threads or args.threads} prompts={len(lprompts)}")
        print(f"  prefix reuse off: {t_off:7.1f} s   {len(lprompts) / t_off:6.2f} prompts/s")
        print(f"  prefix reuse on:  {t_on:7.1f} s   {len(lprompts) / t_on:6.2f} prompts/s")
        print(f"  speed-up {t_off / t_on:.2f}x   identical outputs {same_l}/{len(lprompts)}")
        print(f"  all runs (s): {ltimes}")

    print("wrote", write_json("prefix_sharing", summary, out))


if __name__ == "__main__":
    main()
