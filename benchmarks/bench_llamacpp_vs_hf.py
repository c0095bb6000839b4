"""llama.cpp vs transformers on identical prompts (SmolLM2-135M, CPU, same thread count).

Why: the design routes inference-only work to llama.cpp for speed; this measures by how much,
on the extraction workload (one prompt per sentence and entity type), and how often the two
engines agree. They run different weights: the GGUF is quantized (Q4_1 in the catalogue) while
transformers runs the float32 weights, so greedy outputs differ where the quantization moves
a near-tie: the agreement is reported, not required.

Prompts: the first ``--sentences`` WNUT-17 test sentences (>= 5 tokens) x 4 types in the
sentence-first layout, rendered once with the HF tokenizer's chat template and sent as the same
strings to both. Greedy, same ``max_new_tokens`` and stop. Timed: HF batched (``--batch-size``,
no prefix sharing), llama.cpp one prompt at a time with ``prefix_reuse`` off (every prompt from
scratch, like HF) and on (its default). Each variant runs ``--repeat`` times in alternating order
and the fastest run counts (the machine is shared).

    python benchmarks/bench_llamacpp_vs_hf.py --sentences 64 --threads 2
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import (
    TYPES,
    generation_arguments,
    machine,
    sentence_first_prompts,
    wnut_sentences,
    write_json,
)


def main() -> None:
    ap = generation_arguments(__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path, help="default: benchmarks/results/llamacpp_vs_hf.json")
    args = ap.parse_args()

    import torch

    from fewner.backends.base import GenerationParams
    from fewner.backends.hf import HFBackend
    from fewner.backends.llamacpp import LlamaCppBackend

    torch.set_num_threads(args.threads)
    params = GenerationParams(max_new_tokens=args.max_new_tokens, stop=("\n\n",))
    sentences = wnut_sentences(args.sentences)
    hf = HFBackend(args.model, batch_size=args.batch_size, device="cpu", dtype="float32")
    llm = LlamaCppBackend(args.model, n_threads=args.llama_threads or args.threads)
    prompts = sentence_first_prompts(hf.chat_prompt, sentences, TYPES)
    hf.generate(prompts[:2], params)  # warm-ups: weights, first-call overheads
    llm.generate(prompts[:1], params)

    def run_hf() -> list[str]:
        return hf.generate(prompts, params)

    def run_llama(reuse: bool):  # type: ignore[no-untyped-def]
        def go() -> list[str]:
            llm.prefix_reuse = reuse
            return llm.generate(prompts, params)

        return go

    runs = {"hf": run_hf, "llamacpp_reuse_off": run_llama(False), "llamacpp": run_llama(True)}
    outs: dict = {}
    times: dict = {n: [] for n in runs}
    for r in range(args.repeat):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            t0 = time.perf_counter()
            out = runs[name]()
            times[name].append(round(time.perf_counter() - t0, 2))
            outs.setdefault(name, out)
    best = {n: min(t) for n, t in times.items()}
    rate = {n: len(prompts) / t for n, t in best.items()}
    agree = {
        n: sum(a == b for a, b in zip(outs["hf"], outs[n], strict=True))
        for n in ("llamacpp_reuse_off", "llamacpp")
    }
    same_llama = sum(
        a == b for a, b in zip(outs["llamacpp"], outs["llamacpp_reuse_off"], strict=True)
    )
    summary = {
        "machine": machine(),
        "threads": args.threads,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "hf": {"model": hf.model_id, "batch_size": args.batch_size, "dtype": "float32"},
        "llamacpp": {"model": llm.model_id, "threads": args.llama_threads or args.threads},
        "seconds": best,
        "all_runs_s": times,
        "prompts_per_s": {n: round(v, 2) for n, v in rate.items()},
        "ratio_llamacpp_reuse_off_over_hf": round(rate["llamacpp_reuse_off"] / rate["hf"], 2),
        "ratio_llamacpp_over_hf": round(rate["llamacpp"] / rate["hf"], 2),
        "identical_to_hf": agree,
        "llamacpp_reuse_on_equals_off": same_llama,
        "examples": [
            {"prompt_end": prompts[i][-60:], "hf": outs["hf"][i], "llamacpp": outs["llamacpp"][i]}
            for i in range(min(4, len(prompts)))
        ],
    }
    print(
        f"hf threads={args.threads} llama.cpp threads={args.llama_threads or args.threads} "
        f"prompts={len(prompts)} max_new_tokens={args.max_new_tokens}"
    )
    print(f"  hf {hf.model_id} float32, batch {args.batch_size}: ", end="")
    print(f"{best['hf']:7.1f} s  {rate['hf']:6.2f} prompts/s")
    for n in ("llamacpp_reuse_off", "llamacpp"):
        print(f"  {n} ({llm.model_id}): {best[n]:7.1f} s  {rate[n]:6.2f} prompts/s", end="")
        print(
            f"  ratio over hf {rate[n] / rate['hf']:.2f}x  identical to hf {agree[n]}/{len(prompts)}"
        )
    print(f"  llama.cpp reuse on == off: {same_llama}/{len(prompts)}; all runs (s): {times}")
    print("wrote", write_json("llamacpp_vs_hf", summary, args.json))
    llm.close()


if __name__ == "__main__":
    main()
