"""Named loss terms, combined with weights from config, computed from ONE forward pass.

A training recipe lists its terms (``configs/obp-llm.yaml``)::

    loss:
      - {name: nll}
      - {name: attn_contrastive, weight: 0.01, layer: 0.8}

:func:`build_loss_terms` turns that list into :class:`LossTerm` objects. Each term says what it
needs from the forward pass (``needs_hidden_states``; ``captures(model)``: modules whose outputs
to record with :func:`fewner.train.capture.capture_outputs`) and is called as
``term(batch, outputs, captured) -> (loss, logs)`` with the *unweighted* loss; the loop sums
``term.weight * loss`` (:func:`total_loss`, or :func:`forward_with_terms` for the whole step).

Batches follow the training-batch interface of ``fewner.train.collate``: right-padded [B, T]
tensors ``input_ids``, ``attention_mask``, ``labels`` (-100 where not supervised), bool masks
``type_mask``, ``entity_mask``, ``boundary_mask``, ``other_entity_mask``, ``sentence_mask``, long
``entity_index`` (-1 outside mentions) and float ``weight`` [B].

Conventions shared by every term here (documented once):

* **Per-example averaging.** Each term computes one loss per example, multiplies it by
  ``batch["weight"]`` and averages over the examples it applies to (``nll``: examples with at
  least one supervised token; the contrastive terms: examples with at least one gold mention of
  the prompt's type). Per-example rather than per-token means for ``nll``: a long answer (many
  mentions) does not outweigh a short one ("none") in the batch, and a weight scales exactly one
  example. Weights are not renormalised (no division by their sum), so a batch of down-weighted
  examples gives a proportionally smaller gradient, which is what per-sample weights are for.
* **Examples a term does not apply to contribute nothing** (not a zero loss in the average); a
  batch with no such example yields an exact zero that is still attached to the graph, so
  ``backward()`` works whatever the batch holds.
* **Layers.** ``layer`` is an int index or a float fraction of depth
  (:func:`~fewner.train.capture.resolve_layer`); both contrastive terms at the same spec look at
  the same decoder layer (``hidden_states[i + 1]`` is the output of decoder layer ``i``).
* Computations are vectorized over the batch (no Python loop over tokens or mentions) and done in
  float32, whatever the autocast dtype of the forward pass.
"""

from __future__ import annotations

import abc
import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fewner.errors import ConfigError
from fewner.registry import Registry
from fewner.train.capture import capture_outputs, decoder_layers, resolve_layer

__all__ = [
    "LOSSES",
    "OBJECTIVES",
    "AttnContrastive",
    "HiddenContrastive",
    "LossTerm",
    "NLL",
    "build_loss_terms",
    "forward_with_terms",
    "register_loss",
    "register_objective",
    "total_loss",
]

Batch = Mapping[str, Tensor]

#: Loss terms by config name. Register a new one with ``@register_loss``; the gradient contract
#: test (tests/contract/test_loss_gradients.py) then covers it automatically.
LOSSES: Registry[type[LossTerm]] = Registry("loss term", group="fewner.loss_terms")

#: Whole-step objectives ``objective(model, batch) -> (loss, logs)`` of stage kinds that do not
#: train on a sum of loss terms over one forward pass (``dpo``: :class:`fewner.train.dpo.
#: DPOObjective`). Registered with ``@register_objective``; the gradient contract test covers
#: each registered objective too.
OBJECTIVES: Registry[type] = Registry(
    "objective", lazy={"dpo": "fewner.train.dpo"}, group="fewner.objectives"
)


def register_loss(cls: type[LossTerm]) -> type[LossTerm]:
    """Class decorator: add ``cls`` to :data:`LOSSES` under ``cls.name``."""
    return LOSSES.register(cls.name, cls)  # an empty or already taken name is a ValueError


def register_objective(cls: type) -> type:
    """Class decorator: add ``cls`` to :data:`OBJECTIVES` under ``cls.name``."""
    return OBJECTIVES.register(getattr(cls, "name", ""), cls)


class LossTerm(abc.ABC):
    """Base class of a loss term. Subclasses set ``name`` and implement ``__call__``.

    Options come as keyword-only ``__init__`` arguments (after ``model``); :func:`build_loss_terms`
    checks config keys against them, and :meth:`spec` reports their resolved values.
    """

    name: ClassVar[str] = ""
    default_weight: ClassVar[float] = 1.0
    needs_hidden_states: ClassVar[bool] = False

    def __init__(self, model: nn.Module, *, weight: float | None = None) -> None:
        self.weight = float(self.default_weight if weight is None else weight)
        if not math.isfinite(self.weight):
            raise ConfigError(f"loss term {self.name!r}: weight must be finite, got {weight}")

    def captures(self, model: nn.Module) -> list[tuple[str, nn.Module]]:
        """Modules whose outputs this term reads from ``captured`` (none by default)."""
        return []

    def spec(self) -> dict[str, Any]:
        """The resolved config of this term (what a run records)."""
        return {"name": self.name, "weight": self.weight}

    @abc.abstractmethod
    def __call__(
        self, batch: Batch, outputs: Any, captured: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, float]]:
        """The term's unweighted loss (a scalar in the graph) and its logs."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec()})"


def _weighted_mean(per_example: Tensor, applies: Tensor, batch: Batch) -> Tensor:
    """Mean of ``weight * per_example`` over the examples where ``applies`` (zero if none)."""
    weight = batch.get("weight")
    weight = torch.ones_like(per_example) if weight is None else weight.to(per_example)
    terms = torch.where(applies, per_example * weight, per_example.new_zeros(()))
    return terms.sum() / applies.sum().clamp(min=1)


def _floats(values: Mapping[str, Tensor | float]) -> dict[str, float]:
    """Tensors to Python floats with one device sync (one ``tolist``) instead of one per value."""
    keys = list(values)
    device = next((v.device for v in values.values() if isinstance(v, Tensor)), None)
    flat = [torch.as_tensor(values[k], device=device).detach().float().reshape(()) for k in keys]
    return dict(zip(keys, torch.stack(flat).tolist(), strict=True))


@register_loss
class NLL(LossTerm):
    """Token negative log-likelihood of the supervised (response + EOS) tokens.

    Per example: the mean NLL over its tokens with ``labels != -100`` (the model predicts
    ``labels[t + 1]`` from position ``t``); then the weighted mean over examples (see the module
    docstring). Only supervised positions go through the softmax, so the cost does not grow with
    the prompt length times the vocabulary.
    """

    name = "nll"

    def __call__(
        self, batch: Batch, outputs: Any, captured: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, float]]:
        logits = outputs.logits
        target = batch["labels"][:, 1:]
        supervised = target != -100
        rows, cols = supervised.nonzero(as_tuple=True)
        token_nll = F.cross_entropy(
            logits[rows, cols].float(), target[rows, cols], reduction="none"
        )
        count = supervised.sum(1)
        per_example = token_nll.new_zeros(count.shape).index_add(0, rows, token_nll)
        per_example = per_example / count.clamp(min=1)
        applies = count > 0
        loss = _weighted_mean(per_example, applies, batch)
        if rows.numel() == 0:  # keep the zero attached to the graph
            loss = loss + logits.sum() * 0.0
        return loss, _floats({self.name: loss, f"{self.name}/tokens": count.sum()})


class _LayerTerm(LossTerm):
    """A term that reads one decoder layer, given as ``layer`` (index or fraction of depth)."""

    def __init__(self, model: nn.Module, *, weight: float | None = None, layer: int | float = 0.8):
        super().__init__(model, weight=weight)
        self.layer_spec = layer
        self.layer = resolve_layer(layer, len(decoder_layers(model)))

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "layer": self.layer_spec, "layer_index": self.layer}


@register_loss
class AttnContrastive(_LayerTerm):
    """OBP-LLM's attention contrastive term: entity-type queries against entity/boundary keys.

    At decoder layer ``layer``: the query vector of the type is the mean over the type-name tokens
    of the instruction (``type_mask``) of their Q projections; each prompt token's key vector is
    its K projection. Both are averaged over heads (q: ``num_attention_heads``, k:
    ``num_key_value_heads`` under GQA — averaging the K heads equals averaging them repeated to the
    query heads) and L2-normalised. Per example with gold mentions of its type::

        loss = -log sigmoid( sum_{t in entity} cos(q, k_t) - sum_{t in boundary} cos(q, k_t) )

    positives: every token of every gold mention of the prompt's type (``entity_mask``);
    negatives: the token just left and just right of each mention (``boundary_mask``).
    ``reduction="mean"`` uses means over those tokens instead of the paper's sums (a sum over a
    long mention list saturates the sigmoid; offered for experiments, default stays ``sum``).

    Why the outputs of ``q_proj``/``k_proj`` (before RoPE, and before any q/k norm that Qwen3 and
    Gemma 3 apply): these are the paper's Q and K of the tokens' content. After RoPE the vectors
    are rotated by position, so the cosine between the type tokens (early in the prompt) and an
    entity would also depend on how far apart they are, which the loss should not reward or
    punish. Hooking the modules (not recomputing them) keeps one forward pass, and through peft
    the hooked module is the LoRA wrapper: its output includes the LoRA delta, so the term trains
    the adapters of this layer's q/k and of every layer below it.
    """

    name = "attn_contrastive"
    default_weight = 0.01

    def __init__(
        self,
        model: nn.Module,
        *,
        weight: float | None = None,
        layer: int | float = 0.8,
        reduction: str = "sum",
    ) -> None:
        super().__init__(model, weight=weight, layer=layer)
        if reduction not in ("sum", "mean"):
            raise ConfigError(
                f"attn_contrastive: reduction must be 'sum' or 'mean', got {reduction!r}"
            )
        self.reduction = reduction
        attn = decoder_layers(model)[self.layer].self_attn
        for proj in ("q_proj", "k_proj"):
            if not hasattr(attn, proj):
                raise ConfigError(
                    f"attn_contrastive: layer {self.layer} attention has no {proj} "
                    "(needs separate Q and K projections, Llama style)"
                )
        config = getattr(model, "config", None)
        self.head_dim = int(
            getattr(attn, "head_dim", None)
            or getattr(config, "head_dim", None)
            or config.hidden_size // config.num_attention_heads
        )
        self._q = f"layers.{self.layer}.self_attn.q_proj"
        self._k = f"layers.{self.layer}.self_attn.k_proj"

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "reduction": self.reduction}

    def captures(self, model: nn.Module) -> list[tuple[str, nn.Module]]:
        attn = decoder_layers(model)[self.layer].self_attn
        return [(self._q, attn.q_proj), (self._k, attn.k_proj)]

    def _head_mean(self, x: Tensor) -> Tensor:
        b, t, width = x.shape
        return x.float().view(b, t, width // self.head_dim, self.head_dim).mean(2)

    def __call__(
        self, batch: Batch, outputs: Any, captured: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, float]]:
        q = self._head_mean(captured[self._q])  # [B, T, D]
        k = F.normalize(self._head_mean(captured[self._k]), dim=-1)
        type_mask = batch["type_mask"].to(q.dtype)
        positive = batch["entity_mask"].to(q.dtype)
        negative = batch["boundary_mask"].to(q.dtype)
        q_type = (q * type_mask.unsqueeze(-1)).sum(1) / type_mask.sum(1, keepdim=True).clamp(min=1)
        cos = torch.einsum("bd,btd->bt", F.normalize(q_type, dim=-1), k)  # [B, T]
        pos, neg = (cos * positive).sum(1), (cos * negative).sum(1)
        n_pos, n_neg = positive.sum(1), negative.sum(1)
        if self.reduction == "mean":
            pos, neg = pos / n_pos.clamp(min=1), neg / n_neg.clamp(min=1)
        applies = (n_pos > 0) & (type_mask.sum(1) > 0)
        loss = _weighted_mean(
            F.softplus(neg - pos), applies, batch
        )  # softplus(-x) = -log sigmoid(x)
        with torch.no_grad():
            n_ex = applies.sum().clamp(min=1)
            mean_pos = ((cos * positive).sum(1) / n_pos.clamp(min=1) * applies).sum() / n_ex
            mean_neg = ((cos * negative).sum(1) / n_neg.clamp(min=1) * applies).sum() / n_ex
        return loss, _floats(
            {
                self.name: loss,
                f"{self.name}/cos_pos": mean_pos,
                f"{self.name}/cos_neg": mean_neg,
                f"{self.name}/examples": applies.sum(),
            }
        )


@register_loss
class HiddenContrastive(_LayerTerm):
    """CLLMFS's representation contrastive term (InfoNCE) on hidden states of one layer.

    Anchor: each gold mention of the prompt's type, represented by the mean hidden state (output
    of decoder layer ``layer``) over its tokens (``entity_index``). Positive: a noised copy,
    ``a + noise * |a| / sqrt(d) * eps`` with ``eps ~ N(0, I)``, i.e. Gaussian noise whose expected
    norm is ``noise`` times the representation's norm (relative, because hidden-state norms grow
    with depth and vary between models). Negatives: hidden states of the same prompt's sentence
    tokens that are in no gold mention (``sentence_mask & ~entity_mask & ~other_entity_mask``, at
    most ``max_negatives`` drawn uniformly; ``None`` keeps all) and every token of mentions of
    other types (``other_entity_mask``). With cosine similarity ``s`` and temperature ``tau``::

        loss(anchor) = -log( exp(s(a, a+)/tau) / (exp(s(a, a+)/tau) + sum_n exp(s(a, n)/tau)) )

    averaged over the mentions of an example, then over examples with mentions.

    Why noise on the representation rather than on the input embeddings: the latter needs a
    second forward pass per step (twice the cost, against the <= 15% overhead budget and the
    one-pass design of the loop); noise on the pooled representation costs nothing. Gaussian
    rather than dropout noise: dropout on a pooled vector zeroes whole feature dimensions, which
    in LLM hidden states (a few outlier dimensions carry much of the norm) can move the copy far
    or not at all depending on which features it hits; relative Gaussian noise keeps the
    positive's distance from the anchor steady. ``tau = 0.1`` is a common InfoNCE temperature for
    cosine similarities (SimCSE uses 0.05); the paper's value is not stated in the issue.

    Random draws (noise, negative subsampling) use torch's global generator on the tensors'
    device, the same one LoRA dropout uses: seeding and saving/restoring RNG state in the loop
    (needed for dropout anyway) makes this term reproducible and resumable too.
    """

    name = "hidden_contrastive"
    default_weight = 0.001
    needs_hidden_states = True

    def __init__(
        self,
        model: nn.Module,
        *,
        weight: float | None = None,
        layer: int | float = 0.8,
        temperature: float = 0.1,
        noise: float = 0.1,
        max_negatives: int | None = 32,
    ) -> None:
        super().__init__(model, weight=weight, layer=layer)
        if not temperature > 0:
            raise ConfigError(f"hidden_contrastive: temperature must be > 0, got {temperature}")
        if not noise >= 0:
            raise ConfigError(f"hidden_contrastive: noise must be >= 0, got {noise}")
        if max_negatives is not None and (isinstance(max_negatives, bool) or max_negatives < 0):
            raise ConfigError(
                f"hidden_contrastive: max_negatives must be >= 0 or null, got {max_negatives}"
            )
        self.temperature = float(temperature)
        self.noise = float(noise)
        self.max_negatives = None if max_negatives is None else int(max_negatives)

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "temperature": self.temperature,
            "noise": self.noise,
            "max_negatives": self.max_negatives,
        }

    def _negatives(self, batch: Batch) -> Tensor:
        """[B, T] bool: subsampled non-entity sentence tokens plus all other-type mention tokens."""
        plain = batch["sentence_mask"] & ~batch["entity_mask"] & ~batch["other_entity_mask"]
        if self.max_negatives is not None and self.max_negatives < plain.shape[1]:
            scores = torch.rand(plain.shape, device=plain.device).masked_fill(~plain, -1.0)
            top = scores.topk(self.max_negatives, dim=1)
            plain = torch.zeros_like(plain).scatter(1, top.indices, top.values >= 0)
        return plain | batch["other_entity_mask"]

    def __call__(
        self, batch: Batch, outputs: Any, captured: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, float]]:
        hidden = outputs.hidden_states[self.layer + 1].float()  # [B, T, D]
        index = batch["entity_index"]
        n_mentions = max(int(index.max()) + 1, 1)  # K: most mentions in one example
        members = (index.unsqueeze(-1) == torch.arange(n_mentions, device=index.device)).to(hidden)
        count = members.sum(1)  # [B, K]
        present = count > 0
        anchor = torch.einsum("btk,btd->bkd", members, hidden) / count.clamp(min=1).unsqueeze(-1)
        scale = self.noise * anchor.norm(dim=-1, keepdim=True) / math.sqrt(anchor.shape[-1])
        positive = anchor + scale * torch.randn_like(anchor)
        a = F.normalize(anchor, dim=-1)
        s_pos = (a * F.normalize(positive, dim=-1)).sum(-1)  # [B, K]
        s_neg = torch.einsum("bkd,btd->bkt", a, F.normalize(hidden, dim=-1))  # [B, K, T]
        negatives = self._negatives(batch)
        s_neg_masked = s_neg.masked_fill(~negatives.unsqueeze(1), float("-inf"))
        logits = torch.cat([s_pos.unsqueeze(-1), s_neg_masked], dim=-1) / self.temperature
        per_mention = torch.logsumexp(logits, dim=-1) - logits[..., 0]  # [B, K]
        n_present = present.sum(1)
        per_example = (per_mention * present).sum(1) / n_present.clamp(min=1)
        loss = _weighted_mean(per_example, n_present > 0, batch)
        with torch.no_grad():
            n_m = present.sum().clamp(min=1)
            pair = present.unsqueeze(-1) & negatives.unsqueeze(1)
            logs = {
                self.name: loss,
                f"{self.name}/sim_pos": (s_pos * present).sum() / n_m,
                f"{self.name}/sim_neg": (s_neg * pair).sum() / pair.sum().clamp(min=1),
                f"{self.name}/mentions": present.sum(),
            }
        return loss, _floats(logs)


# ----- building and combining ---------------------------------------------------------------


def _options(cls: type[LossTerm]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def build_loss_terms(specs: Sequence[Mapping[str, Any]], model: nn.Module) -> list[LossTerm]:
    """Loss terms from config entries ``{name: ..., weight: ..., <options>}``.

    Unknown names, unknown options, bad values and a term listed twice raise
    :class:`~fewner.errors.ConfigError` naming the entry. ``weight`` defaults to the term's
    ``default_weight`` (nll 1, attn_contrastive 0.01, hidden_contrastive 0.001: the issue's lambdas).
    """
    if isinstance(specs, Mapping) or not isinstance(specs, Sequence) or not specs:
        raise ConfigError("loss: expected a non-empty list of terms like {name: nll}")
    terms: list[LossTerm] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ConfigError(f"loss[{i}]: expected a mapping with a 'name', got {spec!r}")
        options = dict(spec)
        name = options.pop("name")
        cls = LOSSES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ConfigError(f"loss[{i}]: unknown term {name!r}; known: {', '.join(LOSSES)}")
        if any(t.name == name for t in terms):
            raise ConfigError(f"loss[{i}]: term {name!r} listed twice")
        allowed = _options(cls)
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ConfigError(
                f"loss[{i}] ({name}): unknown option(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(allowed)}"
            )
        try:
            terms.append(cls(model, **options))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"loss[{i}] ({name}): {err}") from None
    return terms


def total_loss(
    terms: Sequence[LossTerm], batch: Batch, outputs: Any, captured: Mapping[str, Tensor]
) -> tuple[Tensor, dict[str, float]]:
    """``sum(term.weight * loss)`` and all terms' logs, plus ``loss`` (the weighted total)."""
    total: Tensor | None = None
    logs: dict[str, float] = {}
    for term in terms:
        value, term_logs = term(batch, outputs, captured)
        total = term.weight * value if total is None else total + term.weight * value
        logs.update(term_logs)
    assert total is not None, "total_loss needs at least one term"
    logs["loss"] = float(total.detach())
    return total, logs


def forward_with_terms(
    model: nn.Module, batch: Batch, terms: Sequence[LossTerm], *, forward: nn.Module | None = None
) -> tuple[Tensor, dict[str, float]]:
    """One forward pass that records what ``terms`` need, then :func:`total_loss`.

    Hidden states are requested only when a term needs them; hooks are in place only for this
    pass (removed before the caller's ``backward()``). The model gets no ``labels``, so it does
    not compute a loss of its own that nobody uses. ``forward``: the module to call when it is
    not ``model`` itself (a ``DistributedDataParallel`` wrapper of it); the terms find the
    modules they capture in ``model``.
    """
    modules: dict[str, nn.Module] = {}
    for term in terms:
        modules.update(term.captures(model))
    with capture_outputs(modules) as captured:
        outputs = (forward or model)(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=any(t.needs_hidden_states for t in terms),
            use_cache=False,
        )
    return total_loss(terms, batch, outputs, captured)
