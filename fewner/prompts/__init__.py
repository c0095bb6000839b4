"""Prompts and answers for per-type entity extraction (OBP-LLM, CLLMFS).

* :func:`load_template` / :class:`PromptTemplate` — versioned prompt templates
  (``fewner/resources/templates``), with a ``sentence_first`` layout for prefix reuse;
* :func:`load_definitions` / :class:`Definitions` — per-dataset entity-type definitions
  (``fewner/resources/definitions``), user files and overrides;
* :class:`ExtractionFormat` — the output format owning prompts, targets, parsing and the decoding
  constraint;
* :func:`parse_answer` / :class:`ParseResult` — answer text back to character spans, with counts.

No torch here: evaluation and data code import this package.
"""

from fewner.prompts.definitions import (
    Definitions,
    MissingDefinitionError,
    available_definitions,
    load_definitions,
)
from fewner.prompts.format import ExtractionFormat
from fewner.prompts.parse import STAT_KEYS, ParseResult, parse_answer, read_mentions, representable
from fewner.prompts.templates import LAYOUTS, PromptTemplate, available_templates, load_template

__all__ = [
    "Definitions",
    "ExtractionFormat",
    "LAYOUTS",
    "MissingDefinitionError",
    "ParseResult",
    "PromptTemplate",
    "STAT_KEYS",
    "available_definitions",
    "available_templates",
    "load_definitions",
    "load_template",
    "parse_answer",
    "read_mentions",
    "representable",
]
