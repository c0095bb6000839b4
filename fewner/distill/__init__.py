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
* :mod:`~fewner.distill.rawtext` — raw text folders (BBC News) to sentences;
* :mod:`~fewner.distill.from_support` — one pipeline (``fewner distill-from``): a support set and
  an unlabeled pool (:mod:`~fewner.distill.pool`) -> teacher labels
  (:mod:`~fewner.distill.teacher_labels`, resumable) -> student -> teacher / support-only /
  student scores; config :mod:`~fewner.distill.from_support_config`.

Submodules are imported on use: the teacher side needs no torch.
"""
