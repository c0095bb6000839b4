"""A span model on a device (a GPU, or the CPU for reference): F1 and sentences/s of inference at
float32 and bfloat16 for several forward batch sizes, and the sentences/s of a short training run
there, in one run.

Inference labels the whole ``--test`` file through the predictor (``fewner.load(MODEL,
device=..., precision=...)``: tokenizing, span scoring, decoding, offsets), each variant
``--repeat`` times, keeping the fastest; the F1 shows the device predicts what the CPU does.
Training runs ``--train-steps`` steps of the span training loop (bf16 autocast on the device)
on the ``--support`` sentences, from the same model. On a GPU the first call pays CUDA's
start-up, so one warm-up pass comes first.

    python benchmarks/bench_span_device.py MODEL --test TEST.conll --support SUPPORT.txt --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_json  # noqa: E402


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def inference_rows(args: argparse.Namespace, test, labels) -> dict[str, dict]:
    import fewner
    from fewner.eval.metrics import score

    rows = {}
    for precision in args.precisions:
        model = fewner.load(args.model, device=args.device, precision=precision)
        model.predict_sentences(test[:64], labels)  # warm-up: CUDA context, kernels, label cache
        for forward_batch in args.forward_batches:
            model.forward_batch = forward_batch
            best, predictions = None, None
            for _ in range(args.repeat):
                synchronize(args.device)
                started = time.perf_counter()
                predictions = model.predict_sentences(test, labels).sentences
                synchronize(args.device)
                seconds = time.perf_counter() - started
                best = seconds if best is None else min(best, seconds)
            row = {"f1": round(score(test, predictions).micro.f1, 4), "sentences": len(test),
                   "seconds": round(best, 3), "sentences_per_second": round(len(test) / best, 1)}
            rows[f"{precision} batch {forward_batch}"] = row
            print(f"predict {precision:9s} batch {forward_batch:5d}: F1 {100 * row['f1']:.2f}, "
                  f"{row['sentences_per_second']:.1f} sentences/s", flush=True)
    return rows


def training_row(args: argparse.Namespace, support, labels) -> dict:
    from fewner.predictors import load_folder
    from fewner.spanmodel.adapt import support_examples
    from fewner.spanmodel.pretrain import sentence_batches
    from fewner.spanmodel.train import TrainSettings, train

    predictor = load_folder(Path(args.model))
    examples = support_examples(support, labels, {t: predictor.label_text(t) for t in labels})
    settings = TrainSettings(steps=args.train_steps, batch_size=args.train_batch, warmup=0.0,
                             device=args.device, checkpoint_every=10**9, log_every=10**9)
    synchronize(args.device)
    metrics = train(predictor.model, sentence_batches(examples, args.train_batch, 0), settings)
    synchronize(args.device)
    row = {"steps": metrics["steps"], "batch_size": args.train_batch,
           "final_loss": metrics["final_loss"], "seconds": metrics["seconds"],
           "sentences_per_second": metrics["sentences_per_second"],
           "device": str(predictor.model.device)}
    print(f"train {row['steps']} steps x {args.train_batch} on {row['device']}: "
          f"{row['sentences_per_second']} sentences/s, final loss {row['final_loss']}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a span model folder (fewner.load)")
    parser.add_argument("--test", type=Path, required=True, help="labelled test sentences")
    parser.add_argument("--support", type=Path, default=None, help="sentences to train on")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--forward-batches", nargs="+", type=int, default=[32, 256, 1024])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from fewner.data.io import read_corpus
    from fewner.devices import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = str(resolve_device(args.device))
    test = list(read_corpus(args.test))
    labels = sorted({s.label for sentence in test for s in sentence.spans})
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
    print(f"{args.model}: {len(test)} test sentences, labels {labels}, device {args.device}"
          f"{f' ({gpu})' if gpu else ''}, torch {torch.__version__}", flush=True)
    summary = {"machine": machine(), "command": " ".join(sys.argv), "device": args.device,
               "gpu": gpu, "torch": torch.__version__,
               "inference": inference_rows(args, test, labels)}
    if args.support is not None and args.train_steps > 0:
        support = list(read_corpus(args.support))
        summary["training"] = training_row(args, support, labels)
    print(f"results: {write_json('span_device', summary, args.out)}")


if __name__ == "__main__":
    main()
