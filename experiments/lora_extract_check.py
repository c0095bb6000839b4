"""How faithful is a rank-r adapter extracted from a fully trained source model? Teacher-forced, cheap.

    python experiments/lora_extract_check.py TUNED [--ranks 16,32,64] [--questions 240]
        [--embeddings both] [--out FILE.json]

TUNED: a fully trained model folder (``RUN/model``) or a checkpoint's ``model.safetensors``.
For the full model and each variant (rank r on every attention and MLP projection; with
``--embeddings``: the tuned embedding matrix kept as well, to see what leaving it out costs)
this scores WNUT-17 test questions (sentence first, the generic definition; the first
``--questions`` of 6 types x the test sentences), teacher-forced with the gold answer:

* ``nll``: mean NLL of the gold answer tokens (EOS included);
* ``presence_auc``: ROC AUC of 1 - P(first answer token = the first token of the template's
  no-mention answer) for "has a mention of the type";
* ``agree``: how often the variant's none / not-none decision (argmax first token) equals the
  full model's.

One forward pass per question, no generation: minutes on 2 CPU cores, where an F1 per variant
would take a quarter of an hour.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from source_probe import auc

TYPES = ["corporation", "creative-work", "group", "location", "person", "product"]


def questions(n: int, tokenizer):
    from fewner.data.io import read_corpus
    from fewner.data.spec import default_data_root
    from fewner.predictors.extractor import GENERIC_DEFINITION
    from fewner.prompts import ExtractionFormat, load_template
    from fewner.train.collate import encode_example

    root = Path(default_data_root())
    sentences = read_corpus(root / "wnut17" / "emerging.test.annotated").sentences
    fmt = ExtractionFormat(load_template("obp-llm", layout="sentence_first"),
                           {t: GENERIC_DEFINITION.format(label=t) for t in TYPES})
    out = []
    for sentence in sentences:
        for t in TYPES:
            out.append((encode_example(fmt, tokenizer, sentence, t), any(s.label == t for s in sentence.spans)))
            if len(out) == n:
                return out
    return out


def score(model, items, none_id: int, pad_id: int, batch: int = 8) -> dict:
    from fewner.train.collate import collate

    nll_sum = tokens = 0.0
    probs, decisions = [], []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(items), batch):
            chunk = [e for e, _ in items[i : i + batch]]
            b = collate(chunk, pad_id)
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[:, :-1].float()
            target = b["labels"][:, 1:]
            supervised = target != -100
            nll = F.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
            nll_sum += float((nll * supervised).sum())
            tokens += float(supervised.sum())
            first = supervised & (b["labels"][:, :-1] == -100)
            for r in range(len(chunk)):
                row = logits[r][first[r]][0]
                p = F.softmax(row, -1)
                probs.append(1 - float(p[none_id]))
                decisions.append(int(row.argmax()) != none_id)
    gold = [y for _, y in items]
    presence = auc([p for p, y in zip(probs, gold, strict=True) if y], [p for p, y in zip(probs, gold, strict=True) if not y])
    return {"nll": nll_sum / tokens, "presence_auc": presence,
            "decisions": decisions}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tuned")
    ap.add_argument("--ranks", default="16,32,64")
    ap.add_argument("--questions", type=int, default=240)
    ap.add_argument("--embeddings", choices=["without", "both"], default="without")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fewner.models import hf_path
    from fewner.train.lora import _ATTENTION, _MLP
    from fewner.train.lora_extract import extract_lora

    base_path = hf_path("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    tuned_path = Path(args.tuned)
    if tuned_path.is_dir():  # a model folder: where its manifest says the weights are
        import fewner

        tuned_path = Path(fewner.load(tuned_path).model) / "model.safetensors"
    tuned_state = load_file(str(tuned_path))
    items = questions(args.questions, tokenizer)
    # the first token of the template's no-mention answer ("There are no ...")
    none_id = next(e.input_ids[e.prompt_length] for e, present in items if not present)
    print(f"{len(items)} questions, {sum(y for _, y in items)} with a mention", flush=True)

    def fresh():
        return AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)

    results = {}
    full = fresh()
    full.load_state_dict({k: v.float() for k, v in tuned_state.items()}, strict=False)  # lm_head is tied
    reference = score(full, items, none_id, tokenizer.pad_token_id)
    base = score(fresh(), items, none_id, tokenizer.pad_token_id)

    def row(name, res, seconds=0.0, report=None):
        agree = sum(a == b for a, b in zip(res["decisions"], reference["decisions"], strict=True)) / len(items)
        results[name] = {"nll": round(res["nll"], 4), "presence_auc": round(res["presence_auc"], 3),
                         "agree_with_full": round(agree, 3), **(report or {})}
        print(f"{name:>22}: nll {res['nll']:.4f}  presence AUC {res['presence_auc']:.3f}  "
              f"agree {agree:.3f}  ({seconds:.0f} s)", flush=True)

    row("base (untrained)", base)
    row("full", reference)
    variants = [(int(r), False) for r in args.ranks.split(",")]
    if args.embeddings == "both":
        variants += [(int(r), True) for r in args.ranks.split(",")]
    for rank, with_embeddings in variants:
        started = time.perf_counter()
        model = fresh()
        if with_embeddings:
            model.model.embed_tokens.weight.data.copy_(tuned_state["model.embed_tokens.weight"].float())
        peft, report = extract_lora(model, tuned_state, rank=rank, target_modules=_ATTENTION + _MLP)
        short = {k: round(report[k], 3) for k in ("energy_kept_mean", "energy_kept_min")}
        row(f"rank {rank}{' + embeddings' if with_embeddings else ''}", score(peft, items, none_id, tokenizer.pad_token_id),
            time.perf_counter() - started, {**short, "adapter_parameters": report["adapter_parameters"]})
    if args.out:
        Path(args.out).write_text(json.dumps({"tuned": str(args.tuned), "questions": len(items),
                                              "results": results}, indent=1))


if __name__ == "__main__":
    main()
