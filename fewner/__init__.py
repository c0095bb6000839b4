"""fewner: few-shot named entity recognition with language models."""

from fewner.types import Corpus, Episode, Sentence, Span, Token

__all__ = ["Corpus", "Episode", "Sentence", "Span", "Token"]
__version__ = "0.1.0"
