"""Per-step hooks of the ``hf`` backend's decoding loop: per-row sampling, stop strings and a
bias on the first answer token.

They are transformers ``generate`` hooks that look at one row at a time, so a row's answer does
not depend on the other rows of its batch (why: see :mod:`fewner.backends.hf`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase, StoppingCriteria

__all__ = ["FirstTokenBias", "RowSampler", "StopOnStrings", "row_seed"]


def row_seed(seed: int, prompt: str) -> int:
    """The sampling seed of one prompt: depends on nothing else in the batch."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class RowSampler(LogitsProcessor):
    """Temperature + nucleus sampling with one generator per row (see :mod:`fewner.backends.hf`).

    Returns scores that are ``-inf`` except at the sampled token, so greedy selection picks it.
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float) -> None:
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float().cpu() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            # drop a token when the tokens before it already cover top_p (the first always stays)
            drop = (sorted_p.cumsum(-1) - sorted_p) >= self.top_p
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        out = torch.full_like(scores, float("-inf"))
        for row, gen in enumerate(self.generators):
            p = probs[row]
            if not torch.isfinite(p).all() or p.sum() <= 0:  # every token masked: keep argmax
                token = int(scores[row].argmax())
            else:
                token = int(torch.multinomial(p, 1, generator=gen))
            out[row, token] = 0.0
        return out


class StopOnStrings(StoppingCriteria):
    """Marks a row done once the text it generated contains a stop string."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_len: int
    ) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_len = prompt_len
        # every token decodes to >= 0 characters; a few extra tokens cover partial bytes
        self.window = max((len(s) for s in self.stops), default=0) + 4

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_len :]
        tails = new[:, -self.window :].tolist()
        done = [
            any(s in self.tokenizer.decode(t, skip_special_tokens=True) for s in self.stops)
            for t in tails
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class FirstTokenBias(LogitsProcessor):
    """Adds ``biases[token]`` to each row's logits at the first answer position only (when the
    sequences are ``prompt_length`` long); later steps pass through unchanged. Masked tokens
    (``-inf``) stay masked."""

    def __init__(self, biases: dict[int, float], prompt_length: int) -> None:
        self.ids = torch.tensor(sorted(biases), dtype=torch.long)
        self.values = torch.tensor([biases[i] for i in sorted(biases)])
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] != self.prompt_length or not len(self.ids):
            return scores
        ids = self.ids.to(scores.device)
        scores = scores.clone()
        scores[:, ids] += self.values.to(scores.device, scores.dtype)
        return scores
