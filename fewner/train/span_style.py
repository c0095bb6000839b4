"""How a training run treats the annotation style of its target data, decided before training.

Two settings of a run work together (:mod:`fewner.text.noun_phrases`):

* ``span_extension``: what the model does with its answers (``none``, widened to their
  ``noun_chunk`` / ``noun_phrase``, or ``auto``: chosen from the target examples' gold spans);
* ``train_spans``: what the target stages learn to answer: the gold ``mentions`` as annotated,
  or their ``heads`` (each mention's head word, "the owner of the bar" -> "owner"), which the
  widening rebuilds into the phrase; ``auto``: heads exactly when the answers are widened.

A small model adapted from five examples points at words well and at phrase boundaries
badly; on noun-phrase annotation (GUM) learning heads and letting the parser supply the phrase
is the better split of the work (README: the broad source stage). Deciding both before the
first step lets the run's own dev/test evaluation score what the saved model will answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fewner.errors import ConfigError
from fewner.text.noun_phrases import (
    WIDENING_RULES,
    ExtensionChoice,
    NounChunker,
    choose_extension,
    head_words,
    widen_spans,
)
from fewner.types import Sentence

__all__ = ["TRAIN_SPANS", "SpanStyle", "check_train_spans", "decide_span_style"]

#: ``mentions``: the gold spans as annotated; ``heads``: each gold span's head word (needs
#: ``span_extension`` noun_chunk or noun_phrase); ``auto``: heads when the answers are widened.
TRAIN_SPANS = ("mentions", "heads", "auto")


def check_train_spans(value: str | None, extension: str) -> str:
    """``value`` (None is ``mentions``) checked against :data:`TRAIN_SPANS` and against the
    run's ``span_extension``: training on heads without widening them back would teach the
    model to answer single words."""
    value = "mentions" if value is None else value
    if value not in TRAIN_SPANS:
        raise ConfigError(f"train_spans: {value!r}; expected one of {', '.join(TRAIN_SPANS)}")
    if value == "heads" and extension not in WIDENING_RULES:
        raise ConfigError(
            "train_spans: heads needs answers widened back to phrases: set span_extension to "
            f"{' or '.join(WIDENING_RULES)} (it is {extension!r}; with span_extension: auto, "
            "train_spans: auto trains on heads exactly when auto widens)"
        )
    return value


@dataclass(frozen=True)
class SpanStyle:
    """The decision for one run: the extension the model applies (``extension.chosen``), whether
    the target stages train on head words, and which stages those are."""

    extension: ExtensionChoice
    train_spans: str  # "mentions" or "heads", as resolved
    asked_train_spans: str
    targets: tuple[str, ...]

    @property
    def widens(self) -> bool:
        return self.extension.chosen in WIDENING_RULES

    def training_sentences(self, stage: str, sentences: list[Sentence]) -> list[Sentence]:
        """The sentences stage ``stage`` trains on: with head words in place of their gold
        mentions when the run trains on heads and ``stage`` is a target stage."""
        if self.train_spans != "heads" or stage not in self.targets:
            return sentences
        return head_words(sentences, NounChunker(self.extension.model))

    def widen(self, predictions: Sequence[Sentence], types: Sequence[str]) -> tuple[list[Sentence], Counter[str]]:
        """``predictions`` as the saved model answers them (widened by the chosen extension)."""
        if not self.widens:
            return list(predictions), Counter()
        return widen_spans(predictions, NounChunker(self.extension.model), self.extension.chosen, types)

    def as_dict(self) -> dict[str, Any]:
        return {
            "span_extension": self.extension.as_dict(),
            "train_spans": self.train_spans,
            "train_spans_asked": self.asked_train_spans,
            "target_stages": list(self.targets),
        }


def decide_span_style(config: Any, examples: Sequence[Sentence] | None = None) -> SpanStyle:
    """The span style of ``config`` (a :class:`~fewner.train.config.TrainConfig`), ``auto``
    settings decided from ``examples`` (default: the sentences of its last enabled target
    stage, as :func:`fewner.recipes.save_trained_model` reads them)."""
    targets = tuple(config.enabled_target_stages())
    if examples is None:
        examples = config.stages[targets[-1]].data.sentences_and_types(config.data_root)[0] if targets else []
    asked = check_train_spans(config.train_spans, config.span_extension)
    extension = choose_extension(config.span_extension, examples)
    resolved = "heads" if asked != "mentions" and extension.chosen in WIDENING_RULES else "mentions"
    return SpanStyle(extension, resolved, asked, targets)
