"""Why the source-trained SmolLM2 answers "none": where the presence decision can be read.

    python experiments/source_decision.py answer-position [--n 800]   # frozen model, linear probe
    python experiments/source_decision.py word-position [--n 800]     # frozen model, linear probe
    python experiments/source_decision.py train --fmt obp|direct|inline [--lr 1e-3] [--n 800] [--dw 1] [--full]

Training data: the first ``--n`` WikiNEuRal (validation split, <= 48 words, shuffled with seed 0)
sentences, every sentence asked all four types (person, location, organization, miscellaneous:
exhaustive, so an absent type is a true "none"). Probe: the first ``--eval`` CoNLL-2003 valid
sentences x the same four types; a dev set, never reported as a test result.

* ``answer-position``: logistic regression on the frozen base model's hidden state (each layer)
  at the last prompt token, where the first answer token is predicted: is the asked type present?
* ``word-position``: logistic regression on the hidden state of each sentence word (its last
  subword) in the sentence-first prompt: the word's type (O or one of four); a sentence "has T"
  when its best word says so.
* ``train``: LoRA (obp-llm preset) on packed sequences, one turn per type, bf16 autocast, AdamW,
  linear decay; the probe every 50 steps scores each question by the first answer token:
  ``obp``: p(The) vs p(There) of the OBP-LLM answers; ``direct``: mentions joined by "; " or
  "none" (score 1 - p(none)); ``inline``: the sentence copied with <<< >>> around the type's
  mentions (score: the largest p(" <<<") along the unmarked copy). ``--dw``: loss weight on the
  first answer token of each turn (per-turn weighted mean).

Prints ROC AUC of presence (and accuracy at 0.5); ``train`` appends a JSON line to ``--out``.
Costs on 2 threads: the probes ~3 min each; ``train`` ~5 s per step of 4 sentences (obp).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import source_probe  # experiments/ is on sys.path when this script runs
import torch
import torch.nn.functional as F

NAMES = {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "miscellaneous"}
TYPES = sorted(NAMES.values())


def auc(scores: list[tuple[float, bool]]) -> float:
    """ROC AUC of (score, has a mention) pairs (source_probe.auc on the split lists)."""
    return source_probe.auc([s for s, y in scores if y], [s for s, y in scores if not y])


class Setup:
    """Data, prompt format, model and tokenizer shared by the three commands."""

    def __init__(self, args: argparse.Namespace) -> None:
        from fewner.data.io import read_corpus
        from fewner.data.spec import default_data_root, rename_labels
        from fewner.predictors.extractor import GENERIC_DEFINITION
        from fewner.prompts import ExtractionFormat, load_template
        from fewner.train.stages import load_model

        root = Path(default_data_root())
        train = [s for s in read_corpus(root / "source/wiki/wikineural-en-val.tsv") if s.tokens and len(s.tokens) <= 48]
        random.Random(0).shuffle(train)
        self.train = rename_labels(train[: args.n], NAMES)
        dev = [s for s in read_corpus(root / "conll2003/valid.txt") if s.tokens]
        self.dev = rename_labels(dev[: args.eval], NAMES)
        self.template = load_template("obp-llm", layout="sentence_first")
        self.fmt = ExtractionFormat(self.template, {t: GENERIC_DEFINITION.format(label=t) for t in TYPES})
        self.model, self.tok, _ = load_model(args.model, lambda *_: None, torch.device("cpu"))

    def packed(self, sentence, answers):
        """One packed sequence: the shared prefix, one turn per type (answer supervised)."""
        from fewner.train.collate import encode_answer, encode_prompt
        from fewner.train.packing import PackedExample, _common_prefix

        prompts = [list(encode_prompt(self.tok, self.fmt.prompt(sentence, t))["input_ids"]) for t in TYPES]
        k = _common_prefix(prompts, min(len(p) for p in prompts))
        turns = []
        for p, answer in zip(prompts, answers, strict=True):
            ids = encode_answer(self.tok, answer)
            turns.append((tuple(p[k:] + ids), tuple([-100] * (len(p) - k) + ids), 1.0))
        return PackedExample(tuple(prompts[0][:k]), tuple(turns))

    def forward(self, items, **kw):
        from fewner.train.packing import collate_packed

        b = collate_packed(items, self.tok.pad_token_id)
        out = self.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                         position_ids=b["position_ids"], use_cache=False, **kw)
        return b, out


def answer(setup: Setup, fmt: str, sentence, label: str) -> str:
    spans = sorted((x for x in sentence.spans if x.label == label), key=lambda x: x.start)
    if fmt == "obp":
        return setup.template.grammar.render([sentence.mention(x) for x in spans])
    if fmt == "direct":
        return "; ".join(sentence.mention(x) for x in spans) or "none"
    text, parts, at = sentence.text, [], 0
    for x in spans:
        parts += [text[at:x.start], f"<<< {text[x.start:x.end]} >>>"]
        at = x.end
    return "".join(parts + [text[at:]])


def answer_position(setup: Setup) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    def features(sentences):
        rows_x: dict[int, list] = {}
        ys = []
        with torch.no_grad():
            for i in range(0, len(sentences), 8):
                chunk = sentences[i : i + 8]
                b, out = setup.forward([setup.packed(s, [""] * len(TYPES)) for s in chunk], output_hidden_states=True)
                first = (b["labels"][:, 1:] != -100) & (b["labels"][:, :-1] == -100)
                rows, cols = first.nonzero(as_tuple=True)  # the last prompt token of each turn
                for layer, h in enumerate(out.hidden_states):
                    rows_x.setdefault(layer, []).append(h[rows, cols].float().numpy())
                for r, k in zip(rows.tolist(), b["turn"][rows, cols].tolist(), strict=True):
                    ys.append(TYPES[k - 1] in chunk[r].labels)
        return {k: np.concatenate(v) for k, v in rows_x.items()}, np.array(ys)

    xt, yt = features(setup.train)
    xd, yd = features(setup.dev)
    for layer in sorted(xt):
        if layer == 0:
            continue
        clf = LogisticRegression(C=0.1, max_iter=2000).fit(xt[layer], yt)
        print(json.dumps({"probe": "answer-position", "layer": layer,
                          "dev_auc": round(roc_auc_score(yd, clf.decision_function(xd[layer])), 3),
                          "train_auc": round(roc_auc_score(yt, clf.decision_function(xt[layer])), 3)}), flush=True)


def word_position(setup: Setup, layers: list[int]) -> None:
    from sklearn.linear_model import LogisticRegression

    from fewner.train.collate import encode_prompt, render_with_offsets

    def features(sentences):
        xs = {layer: [] for layer in layers}
        ys, owner = [], []
        with torch.no_grad():
            for j, s in enumerate(sentences):
                rendered = render_with_offsets(setup.fmt, s, TYPES[0])
                enc = encode_prompt(setup.tok, rendered.text, offsets=True)
                base, offsets = rendered.sentence_range[0], enc["offset_mapping"]
                hidden = setup.model(input_ids=torch.tensor([enc["input_ids"]]), output_hidden_states=True).hidden_states
                for t in s.tokens:
                    label = next((x.label for x in s.spans if x.start <= t.start and t.end <= x.end), "O")
                    pos = [k for k, (a, b) in enumerate(offsets) if a < base + t.end and b > base + t.start]
                    if pos:
                        for layer in layers:
                            xs[layer].append(hidden[layer][0, pos[-1]].float().numpy())
                        ys.append(label)
                        owner.append(j)
        return {k: np.stack(v) for k, v in xs.items()}, np.array(ys), np.array(owner)

    xt, yt, _ = features(setup.train)
    xd, yd, od = features(setup.dev)
    for layer in layers:
        clf = LogisticRegression(C=0.1, max_iter=3000).fit(xt[layer], yt)
        proba, classes = clf.predict_proba(xd[layer]), list(clf.classes_)
        scores = [(float(proba[od == j, classes.index(t)].max()), t in s.labels)
                  for t in TYPES for j, s in enumerate(setup.dev) if (od == j).any()]
        predicted = np.array(classes)[proba.argmax(1)]
        entity = yd != "O"
        print(json.dumps({"probe": "word-position", "layer": layer, "dev_auc": round(auc(scores), 3),
                          "entity_word_accuracy": round(float((predicted[entity] == yd[entity]).mean()), 3),
                          "o_accuracy": round(float((predicted[~entity] == "O").mean()), 3)}), flush=True)


def train(setup: Setup, args: argparse.Namespace) -> None:
    from fewner.train.lora import LoraSettings, wrap

    torch.manual_seed(0)
    if args.full:  # every weight trained (no adapter)
        model = setup.model
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        model = setup.model = wrap(setup.model, LoraSettings.from_preset("obp-llm"))
    params = [p for p in model.parameters() if p.requires_grad]
    tok = setup.tok
    score_id = tok(setup.template.grammar.none if args.fmt == "obp" else "none" if args.fmt == "direct" else " <<<",
                   add_special_tokens=False)["input_ids"][0]

    def probe():
        model.eval()
        scores = []
        with torch.no_grad():
            for i in range(0, len(setup.dev), 8):
                chunk = setup.dev[i : i + 8]
                # inline: the unmarked copy is teacher-forced; would the model open a mention anywhere?
                answers = [[s.text if args.fmt == "inline" else "" for _ in TYPES] for s in chunk]
                b, out = setup.forward([setup.packed(s, a) for s, a in zip(chunk, answers, strict=True)])
                target = b["labels"][:, 1:]
                where = (target != -100) if args.fmt == "inline" else (target != -100) & (b["labels"][:, :-1] == -100)
                p = F.softmax(out.logits[:, :-1].float(), -1)[..., score_id]
                turn = b["turn"][:, 1:]
                for r, s in enumerate(chunk):
                    for k, t in enumerate(TYPES, start=1):
                        m = where[r] & (turn[r] == k)
                        value = float(p[r][m].max()) if args.fmt == "inline" else 1 - float(p[r][m][0])
                        scores.append((value, t in s.labels))
        model.train()
        return round(auc(scores), 3), round(sum((s >= 0.5) == y for s, y in scores) / len(scores), 3)

    def loss_of(batch, out):
        target = batch["labels"][:, 1:]
        supervised = target != -100
        first = supervised & (batch["labels"][:, :-1] == -100)
        weight = torch.where(first, args.dw, 1.0) * supervised
        nll = F.cross_entropy(out.logits[:, :-1].float().transpose(1, 2), target.clamp(min=0), reduction="none")
        turn = batch["turn"][:, 1:]
        per_turn = []
        for k in range(1, int(turn.max()) + 1):
            m = (turn == k) * weight
            has = m.sum(1) > 0
            per_turn.append(((nll * m).sum(1) / m.sum(1).clamp(min=1e-9))[has])
        return torch.cat(per_turn).mean(), float((nll * first).sum() / first.sum())

    items = [setup.packed(s, [answer(setup, args.fmt, s, t) for t in TYPES]) for s in setup.train]
    history = [{"step": 0, "probe": probe()}]
    print(json.dumps(history[-1]), flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    steps = len(items) // args.bs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10) * max(0.0, 1 - s / steps))
    order = list(range(len(items)))
    random.Random(1).shuffle(order)
    started, first_nll = time.time(), []
    for step in range(1, steps + 1):
        batch_items = [items[j] for j in order[(step - 1) * args.bs : step * args.bs]]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            b, out = setup.forward(batch_items)
            loss, first = loss_of(b, out)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        first_nll.append(first)
        if step % 50 == 0 or step == steps:
            history.append({"step": step, "loss": round(float(loss), 4),
                            "first_token_nll": round(sum(first_nll[-50:]) / len(first_nll[-50:]), 3),
                            "probe": probe(), "seconds": round(time.time() - started)})
            print(json.dumps(history[-1]), flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"args": vars(args), "history": history}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["answer-position", "word-position", "train"])
    ap.add_argument("--n", type=int, default=800, help="training sentences (WikiNEuRal)")
    ap.add_argument("--eval", type=int, default=100, help="probe sentences (CoNLL-2003 valid)")
    ap.add_argument("--fmt", choices=["obp", "direct", "inline"], default="obp")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dw", type=float, default=1.0, help="loss weight of each turn's first answer token")
    ap.add_argument("--bs", type=int, default=4)
    ap.add_argument("--layers", default="4,8,12,16,20,24,30", help="word-position: layers to probe")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="a catalogue causal LM")
    ap.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="append the run's JSON line here (train)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    setup = Setup(args)
    {"answer-position": lambda: answer_position(setup), "word-position": lambda: word_position(setup, [int(x) for x in args.layers.split(",")]),
     "train": lambda: train(setup, args)}[args.command]()


if __name__ == "__main__":
    main()
