"""The span model's network: encoder, span head, label head, and their match.

Spans: each word gets a start and an end projection of its first subword; the span of words
``i..i+k`` is ``out(GELU(start_i + end_(i+k) + width_k))``: exactly an MLP over the concatenated boundary
vectors (GLiNER's span layer), with its first layer computed once per word instead of once per
span. Labels:
the same encoder reads each label text, pooled, then a two-layer MLP. The score of a span for a
label is their dot product plus one learned bias, a logit for "this span is a mention of this
label" (sigmoid, not softmax: a span may be nothing, and labels are open). At inference the
span layer's output projection is folded into the label vectors (``(W g + b) . l = g . (W^T l) +
b . l``): each span then costs ``labels`` multiply-adds instead of ``hidden x hidden``, the same
logits up to rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fewner.spanmodel.batching import LabelBatch, WordBatch, span_mask
from fewner.spanmodel.config import SpanModelConfig

__all__ = ["SpanNet"]

PRIOR_LOGIT = -5.0
"""Initial bias: almost every (span, label) pair is a non-mention, so training starts from a
low prior instead of spending its first steps learning to say no."""


class SpanNet(nn.Module):
    """``forward(words, label_vectors) -> logits[batch, start, width, label]`` (module docstring)."""

    def __init__(self, encoder: Any, config: SpanModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        size = encoder.config.hidden_size
        d = config.hidden
        self.start = nn.Linear(size, d)
        self.end = nn.Linear(size, d)
        self.width = nn.Embedding(config.max_width, d)
        self.span_out = nn.Sequential(nn.GELU(), nn.Dropout(config.dropout), nn.Linear(d, d))
        self.label_mlp = nn.Sequential(
            nn.Linear(size, d), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(d, d)
        )
        self.bias = nn.Parameter(torch.tensor(PRIOR_LOGIT))
        self.dropout = nn.Dropout(config.dropout)

    # ----- labels ------------------------------------------------------------------------------
    def label_vectors(self, labels: LabelBatch) -> torch.Tensor:
        """``[labels, hidden]``: one vector per label text (cache them at inference)."""
        out = self.encoder(input_ids=labels.input_ids, attention_mask=labels.attention_mask)
        states = out.last_hidden_state
        if self.config.label_pooling == "cls":
            pooled = states[:, 0]
        else:
            mask = labels.attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.label_mlp(pooled)

    # ----- spans -------------------------------------------------------------------------------
    def span_vectors(self, words: WordBatch) -> torch.Tensor:
        """``[batch, start, width, hidden]`` span representations (padding spans are garbage;
        mask them with :func:`fewner.spanmodel.batching.span_mask`)."""
        return self.span_out(self.span_inputs(words))

    def span_inputs(self, words: WordBatch) -> torch.Tensor:
        """``[batch, start, width, hidden]``: start + end + width vectors, before the span layer's
        activation."""
        out = self.encoder(input_ids=words.input_ids, attention_mask=words.attention_mask)
        states = self.dropout(out.last_hidden_state)
        index = words.word_index.unsqueeze(-1).expand(-1, -1, states.size(-1))
        word_states = states.gather(1, index)  # [batch, words, size]
        starts = self.start(word_states)
        ends = self.end(word_states)
        batch, n, d = starts.shape
        k = self.config.max_width
        padded = torch.cat([ends, ends.new_zeros(batch, k, d)], dim=1)
        # ends_by_width[b, i, w] = ends[b, i + w]
        ends_by_width = padded.unfold(1, k, 1)[:, :n].permute(0, 1, 3, 2)
        return starts.unsqueeze(2) + ends_by_width + self.width.weight.view(1, 1, k, d)

    def forward(self, words: WordBatch, label_vectors: torch.Tensor) -> torch.Tensor:
        projection = self.span_out[-1]
        if self.training or type(projection) is not nn.Linear:  # int8: a quantized layer
            spans = self.span_vectors(words)
            return torch.einsum("bnkd,ld->bnkl", spans, label_vectors) + self.bias
        activated = self.span_out[0](self.span_inputs(words))  # dropout is off at inference
        folded = label_vectors @ projection.weight  # [labels, hidden]: W^T l for each label
        return activated @ folded.T + (label_vectors @ projection.bias + self.bias)

    def valid_spans(self, words: WordBatch) -> torch.Tensor:
        return span_mask(words.word_mask, self.config.max_width)
