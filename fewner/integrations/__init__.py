"""fewner inside other NLP toolkits.

* :mod:`fewner.integrations.spacy_component` — the ``fewner`` spaCy pipeline component
  (``nlp.add_pipe("fewner", config={"model": "my-ner/"})``), found by spaCy through the
  ``spacy_factories`` entry point; it needs ``pip install 'fewner[spacy]'``.

Nothing here is imported by ``import fewner``: each integration imports its toolkit itself.
"""
