"""In-context ensembles of small LLMs (EL4NER, Zhu et al. 2025): no training, several models.

* :mod:`fewner.icl.candidates` — candidate spans of a query sentence (noun-phrase-like n-grams),
  the query side of span-level retrieval;
* :mod:`fewner.icl.encoder` — the sentence encoder behind retrieval (MiniLM through
  sentence-transformers), behind a one-method protocol so tests use a tiny stand-in;
* :mod:`fewner.icl.retrieval` — demonstration retrievers, registered by name in the
  :class:`~fewner.registry.Registry` :data:`RETRIEVERS`: ``span`` (span-level similarity),
  ``sentence`` (sentence-embedding kNN), ``random``;
* :mod:`fewner.icl.prompts` — the prompt of each stage and the parsers of their answers;
* :mod:`fewner.icl.voting` — voters registered by name in the registry :data:`VOTERS`:
  ``majority``, ``weighted``;
* :mod:`fewner.icl.pipeline` — the three stages (span extraction, type classification,
  self-validation) across the models, with per-model parse-failure counts;
* :mod:`fewner.icl.config` — the YAML config (packaged preset ``fewner/resources/icl/el4ner.yaml``) as dataclasses;
* :mod:`fewner.icl.runner` — one ``fewner icl`` run: models from the config, outputs, metrics.

No torch at import time: only the sentence-transformers encoder loads it, on first use.
"""

from fewner.icl.pipeline import IclPipeline, Member, PipelineSettings, SentenceResult
from fewner.icl.retrieval import RETRIEVERS, Retriever, make_retriever
from fewner.icl.voting import VOTERS, Voter, get_voter

__all__ = [
    "RETRIEVERS",
    "VOTERS",
    "IclPipeline",
    "Member",
    "PipelineSettings",
    "Retriever",
    "SentenceResult",
    "Voter",
    "get_voter",
    "make_retriever",
]
