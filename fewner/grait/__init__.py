"""Refusal-aware tuning for NER: GRAIT (Zhu et al., Findings of NAACL 2025) on extraction prompts.

An extraction prompt (sentence, entity type) that the model cannot answer correctly should get
an explicit "not sure" (the template's refusal answer) instead of a hallucinated entity, so users
can route such sentences to a person or a stronger model. A ``kind: grait`` training stage:

1. :mod:`~fewner.grait.knowledge`: the model as the stage starts answers each training prompt
   greedily and several times by sampling; correctness = share of answers equal to gold;
2. :mod:`~fewner.grait.split`: known prompts (correctness >= threshold) keep the gold answer,
   unknown ones get the refusal answer;
3. :mod:`~fewner.grait.features` / :mod:`~fewner.grait.gradients`: after a short warm-up on
   the split data (undone afterwards), per-prompt LoRA gradients, randomly projected
   (CountSketch) to a fixed dimension;
4. :mod:`~fewner.grait.selection`: unknown prompts chosen greedily by gradient influence;
5. :mod:`~fewner.grait.weights`: each chosen refusal sample weighted by a softmax of its
   influence on the unknown set minus its conflict with the known set (mean 1);
6. weighted SFT in the ordinary training loop (:mod:`~fewner.grait.stage` prepares the examples).

``select: null`` with ``weights: uniform`` is plain refusal-aware tuning (RAIT): every unknown
prompt gets the refusal answer with weight 1 and no gradients are computed.

The stage's settings (the ``refusal:`` key) are :class:`~fewner.grait.settings.RefusalSpec`;
:mod:`~fewner.grait.stage` registers the stage kind ``grait`` with :mod:`fewner.train.kinds`
(this package uses ``fewner.train``; ``fewner.train`` never imports it).
"""
