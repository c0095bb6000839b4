"""Distillation: a language model annotates text, a small student learns from it.

* :mod:`~fewner.distill.annotate` — the teacher: one multi-type prompt per sentence (standard
  or chain-of-thought), dictionary answers parsed by :mod:`~fewner.distill.answers` into spans
  with a status per sentence;
* :mod:`~fewner.distill.align` — character spans <-> subword labels;
* :mod:`~fewner.distill.student` — the transformers token classifier, batched prediction;
* :mod:`~fewner.distill.span_student` — the span model as a student (``student.kind: span``),
  and :mod:`~fewner.distill.span_recipe` — ``fewner.fit(..., recipe="span-distill")``;
* :mod:`~fewner.distill.schedules` — blending schedules of distilled vs original data;
* :mod:`~fewner.distill.trainer` — the epoch loop that applies a schedule;
* :mod:`~fewner.distill.config` / :mod:`~fewner.distill.pipeline` — YAML runs (``fewner distill``);
* :mod:`~fewner.distill.rawtext` — raw text folders (BBC News) to sentences.

Submodules are imported on use: the teacher side needs no torch.
"""
