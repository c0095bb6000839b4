"""Evaluation: span metrics (:mod:`fewner.eval.metrics`), gold pairing for a prediction run
(:mod:`fewner.eval.pairing`), shard merging of partial runs (:mod:`fewner.eval.shards`),
refusal scores (:mod:`fewner.eval.refusal`) and tables (:mod:`fewner.eval.report`)."""
