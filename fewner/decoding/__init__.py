"""Constrained decoding: model-written mentions must be word-aligned substrings of the input.

* :class:`AnswerGrammar` — the answer format (prefix, mention markers, none answer, suffix);
* :func:`candidate_spans` / :class:`Candidates` — the mentions allowed for one input;
* :class:`Constraint` — the backend-agnostic constraint: ``accepts``, ``filter``, ``gbnf``,
  ``regex`` and ``matcher`` (the incremental byte automaton);
* :class:`TokenIndex` — token ids to bytes, built once per tokenizer;
* ``fewner.decoding.hf.SubstringLogitsProcessor`` — the transformers logits processor (imported
  from its module so that this package stays free of torch).
"""

from fewner.decoding.candidates import DEFAULT_MAX_WORDS, Candidates, candidate_spans
from fewner.decoding.constraint import Constraint
from fewner.decoding.grammar import OBP_GRAMMAR, AnswerGrammar
from fewner.decoding.vocab import TokenIndex, token_bytes

__all__ = [
    "AnswerGrammar",
    "Candidates",
    "Constraint",
    "DEFAULT_MAX_WORDS",
    "OBP_GRAMMAR",
    "TokenIndex",
    "candidate_spans",
    "token_bytes",
]
