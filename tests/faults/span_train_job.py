"""The span model's training loop (:func:`fewner.spanmodel.train.train`, what pre-training and
adaptation run) as a job for the fault-injection tests: ``python span_train_job.py ENCODER``
trains a span model on the tiny random encoder in ``./run`` (checkpoint every step, resumed when
a checkpoint is there) and saves the final weights to ``./final.pt``."""

from __future__ import annotations

import sys
from pathlib import Path

STEPS = 16


def main(encoder: str, folder: Path) -> None:
    import torch

    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.pretrain import sentence_batches
    from fewner.spanmodel.source import Example
    from fewner.spanmodel.span_model import SpanModel
    from fewner.spanmodel.train import TrainSettings, train

    torch.set_num_threads(1)
    examples = [
        Example(("peter", "met", "nadim", "in", "brussels"),
                ((0, 1, "person"), (2, 3, "person"), (4, 5, "place")), ("person", "place")),
        Example(("eu", "rejects", "german", "call"), ((0, 1, "group"),), ("person", "group")),
        Example(("the", "talks", "ended"), (), ("person", "place")),
    ]
    # dropout on, so the random state must be restored for the resumed run to be exact
    config = SpanModelConfig(encoder=encoder, max_width=4, hidden=16, dropout=0.1)
    settings = TrainSettings(steps=STEPS, batch_size=2, lr_encoder=1e-3, lr_head=1e-2, warmup=0.1,
                             bf16=True, checkpoint_every=1, log_every=1)
    model = SpanModel.build(config)
    train(model, sentence_batches(examples, 2, 0), settings, folder / "run")
    torch.save(model.net.state_dict(), folder / "final.pt")


if __name__ == "__main__":
    main(sys.argv[1], Path.cwd())
