"""Pre-train the span model on the broad mixture (resumable: run it again on the same RUN).

    python experiments/span_pretrain.py RUN [--mixture pretrain] [--steps N] [--batch-size B] [--lora-r R] [--threads T]
"""

from __future__ import annotations

import argparse


def main() -> None:
    import torch

    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.pretrain import pretrain
    from fewner.spanmodel.train import TrainSettings

    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--mixture", default="pretrain")
    ap.add_argument("--encoder", default="minilm-l6")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr-encoder", type=float, default=3e-5)
    ap.add_argument("--lr-head", type=float, default=5e-4)
    ap.add_argument("--lora-r", type=int, default=0)
    ap.add_argument("--freeze-embeddings", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = TrainSettings(steps=args.steps, batch_size=args.batch_size, lr_encoder=args.lr_encoder,
                             lr_head=args.lr_head, checkpoint_every=100, log_every=10,
                             freeze_embeddings=args.freeze_embeddings)
    _, metrics = pretrain(args.run, mixture=args.mixture, model_config=SpanModelConfig(encoder=args.encoder, lora_r=args.lora_r),
                          settings=settings, progress=True, log=print)
    print(metrics)


if __name__ == "__main__":
    main()
