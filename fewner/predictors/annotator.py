"""The LLM teacher of distillation (:class:`fewner.distill.annotate.Annotator`) as a predictor.

One multi-type prompt per sentence with solved demonstrations; every sentence also gets a
status (``ok``, ``repaired``, ``partial``, ``unparseable``), counted in ``stats`` as
``status_*`` and given per sentence in ``records``. Saved: settings and the demonstrations
(``demos.jsonl``). The backend is created on first use; labels are open (the prompt lists the
labels asked, with their definitions or their names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fewner.predictors.base import Predictions, Predictor
from fewner.types import Sentence

__all__ = ["AnnotatorPredictor"]

DEMOS_FILE = "demos.jsonl"


class AnnotatorPredictor(Predictor):
    """``model`` on ``backend`` annotates with ``style`` (``standard`` or ``cot``) and ``demos``."""

    kind = "annotator"
    language_model = True
    open_labels = True
    #: One prompt per sentence whose answer lists every type's mentions within a token budget;
    #: a longer sentence of a document is cut into chunks of 96 words.
    window_words = 96

    def __init__(
        self,
        model: str,
        labels: Iterable[str] = (),
        *,
        backend: str = "hf",
        demos: Iterable[Sentence] = (),
        definitions: str | Path | Mapping[str, str] | None = None,
        style: str = "standard",
        chat: bool = True,
        max_new_tokens: int | None = None,
        batch_size: int = 8,
        backend_options: Mapping[str, Any] | None = None,
        cache: str | Path | None = None,
        backend_object: Any = None,
    ) -> None:
        super().__init__(labels)
        self.model = str(model)
        self.backend_name = backend
        self.demos = list(demos)
        self.definitions_source = definitions
        self.definitions: dict[str, str] = _load(definitions)
        self.style = style
        self.chat = chat
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.batch_sentences = batch_size
        self.backend_options = dict(backend_options or {})
        self.cache = cache
        self._backend = backend_object

    def _annotator(self, labels: list[str]) -> Any:
        from fewner.backends.base import GenerationParams
        from fewner.distill.annotate import AnnotationPrompt, Annotator

        definitions = {lab: self.definitions.get(lab, lab) for lab in labels}
        prompt = AnnotationPrompt(tuple(labels), definitions, self.style, tuple(self.demos))
        annotator = Annotator(self.backend(), prompt, batch_size=self.batch_size, chat=self.chat)
        if self.max_new_tokens is not None:
            annotator.params = GenerationParams(
                max_new_tokens=self.max_new_tokens, stop=annotator.params.stop
            )
        return annotator

    def backend(self) -> Any:
        if self._backend is None:
            from fewner.backends.factory import make_backend

            options = dict(self.backend_options)
            if self.backend_name == "hf":
                options.setdefault("batch_size", self.batch_size)
            self._backend = make_backend(self.backend_name, self.model, cache=self.cache, **options)
        return self._backend

    def check_fits(self, sentences: list[Sentence], labels: Any = None) -> None:
        """Fail now, naming the file and line, when the longest sentence's prompt (with the
        answer budget) would not fit the model's context window
        (:func:`fewner.backends.limits.check_context`); backends that cannot tell pass."""
        from fewner.backends.limits import ContextLengthError, check_context
        from fewner.predict.extractor import sentence_location

        longest = max(sentences, key=lambda s: len(s.text.encode("utf-8")), default=None)
        if longest is None:
            return
        annotator = self._annotator(self.resolve_labels(labels))
        prompt = annotator.prompt.render(longest, annotator.backend, annotator.chat)
        try:
            check_context(annotator.backend, [prompt], annotator.params.max_new_tokens)
        except ContextLengthError as err:
            raise err.at(
                f"{sentence_location(longest)}: the annotation prompt",
                "split the sentence, use fewer demonstrations, or a model with a longer "
                "context (-O n_ctx=N with llamacpp)",
            ) from None

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        result = Predictions()
        for annotation in self._annotator(labels).annotate(sentences):
            result.sentences.append(annotation.sentence)
            result.stats.update(annotation.stats)
            result.records.append(annotation.record())
        return result

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backend": self.backend_name,
            "style": self.style,
            "chat": self.chat,
            "demos": [d.id for d in self.demos],
            "definitions": {k: v for k, v in self.definitions.items() if k in self.labels},
            "max_new_tokens": self.max_new_tokens,
            "batch_size": self.batch_size,
            "backend_options": {k: str(v) for k, v in self.backend_options.items()},
        }

    def runtime_counters(self) -> dict[str, Any]:
        return {
            "cache_hits": getattr(self._backend, "hits", None),
            "cache_misses": getattr(self._backend, "misses", None),
        }

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def _save_payload(self, folder: Path) -> dict[str, Any]:
        from fewner.data.formats.jsonl import write_jsonl

        write_jsonl(self.demos, folder / DEMOS_FILE)
        settings = {**self.settings(), "definitions": dict(self.definitions), "demos": DEMOS_FILE}
        return {"settings": settings}

    @classmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> AnnotatorPredictor:
        from fewner.data.io import read_corpus

        s = manifest.settings
        demos_path = folder / s.get("demos", DEMOS_FILE)
        text = demos_path.read_text(encoding="utf-8") if demos_path.is_file() else ""
        demos = read_corpus(demos_path, format="jsonl").sentences if text.strip() else []
        kwargs: dict[str, Any] = {
            "backend": s.get("backend", "hf"),
            "demos": demos,
            "definitions": s.get("definitions") or None,
            "style": s.get("style", "standard"),
            "chat": s.get("chat", True),
            "max_new_tokens": s.get("max_new_tokens"),
            "batch_size": s.get("batch_size", 8),
        }
        kwargs.update(overrides)
        return cls(s["model"], manifest.labels, **kwargs)


def _load(definitions: str | Path | Mapping[str, str] | None) -> dict[str, str]:
    if definitions is None:
        return {}
    from fewner.prompts.definitions import load_definitions

    return dict(load_definitions(definitions))


from fewner.predictors import PREDICTORS  # noqa: E402 - registered once the class exists

PREDICTORS.register(AnnotatorPredictor.kind, AnnotatorPredictor)
