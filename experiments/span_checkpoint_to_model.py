"""Turn a span pre-training checkpoint (RUN/train/checkpoint.pt) into a span model folder, to
evaluate a run while it trains.

    python experiments/span_checkpoint_to_model.py RUN OUT_FOLDER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    import torch

    from fewner.spanmodel.config import SpanModelConfig
    from fewner.spanmodel.predictor import SpanPredictor
    from fewner.spanmodel.span_model import SpanModel

    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((run / "train" / "config.json").read_text())
    model = SpanModel.build(SpanModelConfig.from_dict(config["model"]))
    state = torch.load(run / "train" / "checkpoint.pt", map_location="cpu", weights_only=True)
    model.net.load_state_dict(state["model"])
    SpanPredictor(model, training={"stage": "pretrain checkpoint", "step": state["step"]}).save(out)
    print(f"step {state['step']} -> {out}")


if __name__ == "__main__":
    main()
