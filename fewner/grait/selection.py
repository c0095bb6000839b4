"""Which unknown prompts get the refusal answer (GRAIT step 4): greedy, by gradient influence.

Notation: ``r_j`` is the projected gradient of unknown prompt ``j`` trained with the *refusal*
answer, ``g_k`` that of known prompt ``k`` trained with its *gold* answer
(:mod:`fewner.grait.gradients`); all are scaled to unit length, so inner products are cosines and
long answers do not outweigh short ones. A gradient step on ``j`` changes the loss of another
sample ``x`` by about ``-lr * <r_j, grad_x>`` (first-order influence), so:

* ``influence_unknown(j) = mean over unknown u != j of <r_j, r_u>``: how much learning to refuse
  ``j`` also teaches refusing the other unknown prompts (GRAIT's first observation: refusal
  samples aligned with the unknown set reduce hallucination the most);
* ``conflict_known(j) = -mean over known k of <r_j, g_k>``: how much learning to refuse ``j``
  *raises* the loss of the known prompts' gold answers, i.e. pushes the model to refuse what it
  knows (GRAIT's second observation: the cause of over-refusal);
* ``redundancy(j, S) = mean over chosen s in S of <r_j, r_s>`` (0 while ``S`` is empty).

Greedy selection: ``S`` starts empty; ``count`` times, add the unchosen ``j`` maximizing

    score(j) = influence_unknown(j) - conflict_known(j) - redundancy(j, S)

(ties: the earliest prompt). The redundancy term keeps the chosen set diverse, as the brief of
this feature asks; note that the GRAIT authors' released script (``construct_grait_data.py``)
*adds* the inner products with the chosen samples instead, and its known-set term is a plain
sum, so this is GRAIT's criterion in spirit, not a port of that script.
"""

from __future__ import annotations

import torch

__all__ = ["influences", "resolve_count", "select_unknown", "unit_rows"]


def unit_rows(features: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero)."""
    features = features.float()
    norms = features.norm(dim=1, keepdim=True)
    return features / norms.clamp_min(1e-12)


def influences(unknown: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(influence_unknown, conflict_known)`` of every unknown prompt (see the module doc).

    ``unknown``: ``[u, d]`` refusal-answer gradients; ``known``: ``[k, d]`` gold-answer gradients.
    """
    r = unit_rows(unknown)
    u = r.shape[0]
    if u > 1:
        sims = r @ r.T
        influence = (sims.sum(dim=1) - sims.diagonal()) / (u - 1)
    else:
        influence = torch.zeros(u)
    if known.shape[0]:
        conflict = -(r @ unit_rows(known).T).mean(dim=1)
    else:
        conflict = torch.zeros(u)
    return influence, conflict


def resolve_count(select: float | None, unknown: int) -> int:
    """How many unknown prompts to choose: null = all, a fraction in (0, 1) = that share
    (rounded, at least 1 when any is unknown), else a count capped at ``unknown``."""
    if select is None:
        return unknown
    if 0 < select < 1:
        return min(unknown, max(1, round(select * unknown))) if unknown else 0
    return min(unknown, int(select))


def select_unknown(
    unknown: torch.Tensor, known: torch.Tensor, count: int
) -> tuple[list[int], list[float]]:
    """Positions (rows of ``unknown``) of the chosen prompts in the order chosen, and the score
    each had when it was chosen."""
    u = unknown.shape[0]
    count = max(0, min(count, u))
    if count == 0:
        return [], []
    influence, conflict = influences(unknown, known)
    base = influence - conflict
    r = unit_rows(unknown)
    sims = r @ r.T
    chosen: list[int] = []
    scores: list[float] = []
    redundancy = torch.zeros(u)
    taken = torch.zeros(u, dtype=torch.bool)
    for _ in range(count):
        score = base - (redundancy / len(chosen) if chosen else 0.0)
        score = score.masked_fill(taken, float("-inf"))
        j = int(torch.argmax(score))  # the first maximum: ties go to the earliest prompt
        chosen.append(j)
        scores.append(float(score[j]))
        taken[j] = True
        redundancy += sims[:, j]
    return chosen, scores
