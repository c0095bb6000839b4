"""The generative extractor as a predictor: one prompt per (sentence, label) to a causal LM.

Wraps :class:`fewner.predict.Extractor` (prompts, constrained decoding, parsing, merging) with
everything that must match training and so belongs in the model folder rather than on a command
line: the base model, the LoRA adapter, the template and layout, the definitions of every label,
chat mode and the constraint policy. The backend is created on first use, so loading a folder
and reading its settings is instant.

Definitions: when ``definitions`` are given, every label asked must have one (a label missing
from a definitions file is almost always a typo, and it fails before any model loads); when none
are given, every label gets a generic one (:data:`GENERIC_DEFINITION`), so any label works
zero-shot. The definitions actually used are stored in the manifest, so a saved model prompts
exactly as it did when saved.

Loading a saved folder may change how decoding runs (constraint policy, batch size, cache,
backend options, token budget) but not what the prompt is (model, adapter, template, layout,
definitions, chat): those are fixed by training, and overriding them is an error.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fewner.errors import ConfigError, ModelNotAvailableError
from fewner.models.catalogue import base_model_record
from fewner.predictors.base import Predictions, Predictor
from fewner.types import Sentence

__all__ = ["GENERIC_DEFINITION", "ExtractorPredictor"]

#: The definition a label gets when none is given: it reads naturally in the OBP-LLM
#: instruction ("The entity of city refers to any city mentioned in the input sentence").
GENERIC_DEFINITION = "any {label} mentioned"

ADAPTER_DIR = "adapter"

#: Settings that define the prompt a model was trained on: a saved folder's cannot be overridden.
PROMPT_SETTINGS = {
    "model", "adapter", "template", "layout", "definitions", "generic_definitions", "chat", "system"
}


class ExtractorPredictor(Predictor):
    """A causal LM (optionally with a LoRA adapter) asked one prompt per label.

    ``model``: catalogue name, local transformers folder, hub id, GGUF path (llamacpp) or server
    model name (openai); ``backend``: ``hf`` (default), ``llamacpp`` or ``openai``;
    ``definitions``: a shipped name (``wnut17``), a YAML path or a mapping, plus generic ones
    for labels it lacks; ``backend_options``: extra constructor options of the backend;
    ``generic_definitions``: give labels without a definition the generic one (default: only
    when no ``definitions`` are given, module docstring); ``span_extension``: ``noun_chunk``
    widens every answer to the noun chunk holding it, ``noun_phrase`` to that chunk and the "of"
    phrases after its head (``spacy_model``'s parse; for data annotated as whole noun phrases,
    :mod:`fewner.text.noun_phrases`), ``none`` (default) keeps the answers' spans; ``cache``: SQLite answer cache (a rerun resumes); ``backend_object``: an already built
    backend to use instead (tests pass a scripted one; never saved). The remaining keyword arguments are
    :class:`~fewner.predict.Extractor`'s (``constrained``, ``chat``, ``abstain``,
    ``max_words``, ...).
    """

    kind = "extractor"
    language_model = True
    open_labels = True
    #: A prompt holds one sentence; adapters are trained on sentences (CoNLL-2003's longest is
    #: 113 words) and the answer has a token budget (``max_new_tokens``), so a longer sentence of
    #: a document is cut into chunks of 96 words rather than sent whole.
    window_words = 96

    def __init__(
        self,
        model: str,
        labels: list[str] | tuple[str, ...] = (),
        *,
        adapter: str | Path | None = None,
        backend: str = "hf",
        template: str = "obp-llm",
        layout: str | None = None,
        definitions: str | Path | Mapping[str, str] | None = None,
        chat: bool = False,
        system: str | None = None,
        constrained: bool = True,
        edge_punctuation: bool = False,
        max_words: int = 8,
        max_mentions: int | None = None,
        abstain: bool = False,
        none_bias: float = 0.0,
        retype: bool = False,
        max_new_tokens: int = 64,
        batch_size: int = 16,
        backend_options: Mapping[str, Any] | None = None,
        cache: str | Path | None = None,
        base_model: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        backend_object: Any = None,
        generic_definitions: bool | None = None,
        span_extension: str | None = None,
        spacy_model: str | None = None,
    ) -> None:
        from fewner.prompts import load_template
        from fewner.text.noun_phrases import DEFAULT_SPACY_MODEL, check_extension

        super().__init__(labels)
        if adapter is not None and backend != "hf":
            raise ConfigError("a LoRA adapter works with the hf backend only")
        self.model = str(model)
        # absolute: a predictor outlives the working directory it was made in
        self.adapter = None if adapter is None else Path(adapter).expanduser().resolve()
        if self.adapter is not None:
            from fewner.models.adapters import check_adapter

            check_adapter(self.adapter)  # names the folder and what is wrong, before any loading
        self.backend_name = backend
        self.template = load_template(template, layout=layout)  # fails now, not at first use
        self.template_name = str(template)
        self.layout = layout
        self.definitions_source = definitions
        #: labels without a definition get the generic one (default: when none were given)
        self.generic_definitions = (
            definitions is None if generic_definitions is None else generic_definitions
        )
        self._definitions = _definitions(definitions)
        if not self.labels and definitions is not None:  # a definitions file names the labels
            self.labels = list(self._definitions)
        self.options = {
            "chat": chat,
            "system": system,
            "constrained": constrained,
            "edge_punctuation": edge_punctuation,
            "max_words": max_words,
            "max_mentions": max_mentions,
            "abstain": abstain,
            "none_bias": float(none_bias),
            "retype": bool(retype),
        }
        self.span_extension = check_extension(span_extension)
        if self.span_extension == "auto":
            raise ConfigError(
                "span_extension: auto is decided from the training examples (fewner.fit, "
                "fewner train); a predictor takes none, noun_chunk or noun_phrase"
            )
        self.spacy_model = spacy_model or DEFAULT_SPACY_MODEL
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.backend_options = dict(backend_options or {})
        self.cache = cache
        self.base_model = base_model
        self.training = training
        self.metrics = metrics
        self._backend: Any = backend_object
        self._extractor: Any = None
        #: answers that stopped mid-mention (cut at ``max_new_tokens``), over this object's life
        self.answers_cut = 0

    @property
    def none_bias(self) -> float:
        """Added to the none answer's first-token logit (:class:`fewner.predict.Extractor`);
        negative answers "none" less often. Set it by hand or with
        :func:`fewner.predict.calibration.calibrate_none_bias`; saved with the model."""
        return float(self.options["none_bias"])

    @none_bias.setter
    def none_bias(self, value: float) -> None:
        self.options["none_bias"] = float(value)
        self._extractor = None  # the next prediction builds one with the new bias

    # ----- the protocol --------------------------------------------------------------------
    def resolve_labels(self, labels: Any) -> list[str]:
        wanted = super().resolve_labels(labels)
        if not self.generic_definitions:
            from fewner.prompts.definitions import Definitions

            defs = self._definitions
            if not isinstance(defs, Definitions):
                defs = Definitions(defs)
                defs.source = "the given definitions"
            defs.require(wanted)  # names every missing label at once
        return wanted

    def runtime_counters(self) -> dict[str, Any]:
        backend = self._backend
        cut = self.answers_cut
        return {
            "cache_hits": getattr(backend, "hits", None),
            "cache_misses": getattr(backend, "misses", None),
            "max_new_tokens": self.max_new_tokens,
            "answers_cut": cut,
            "warnings": [cut_answers_warning(cut, self.max_new_tokens)] if cut else [],
        }

    def definitions_for(self, labels: list[str]) -> dict[str, str]:
        """The definition each label is prompted with (given, else the generic one)."""
        return {
            lab: self._definitions[lab]
            if lab in self._definitions
            else GENERIC_DEFINITION.format(label=lab)
            for lab in labels
        }

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        extractor = self._extractor_for(labels)
        result = extractor.extract(sentences, labels)
        self.answers_cut += result.stats.get("truncated", 0)
        predicted = result.predictions
        if self.span_extension != "none":
            from fewner.text.noun_phrases import NounChunker, widen_spans

            predicted, counts = widen_spans(
                predicted, NounChunker(self.spacy_model), self.span_extension, labels
            )
            result.stats.update(counts)
        return Predictions(
            sentences=predicted,
            stats=result.stats,
            abstained=result.abstained,
            records=result.answers,
        )

    def check_fits(self, sentences: list[Sentence], labels: Any = None) -> None:
        """Fail now, naming the file and line, when the longest of ``sentences`` would not fit
        the model's context window (:meth:`fewner.predict.Extractor.check_fits`)."""
        wanted = self.resolve_labels(labels)
        self._extractor_for(wanted).check_fits(sentences, wanted)

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backend": self.backend_name,
            "adapter": None if self.adapter is None else str(self.adapter),
            "template": self.template.id,
            "template_name": self.template_name,
            "layout": self.template.layout,
            "definitions": self.definitions_for(self.labels) if self.labels else {},
            "definitions_source": _describe(self.definitions_source),
            "generic_definitions": self.generic_definitions,
            **self.options,
            "span_extension": self.span_extension,
            "spacy_model": self.spacy_model,
            "max_new_tokens": self.max_new_tokens,
            "batch_size": self.batch_size,
            "backend_options": {k: str(v) for k, v in self.backend_options.items()},
            "params": self._params().as_dict(),
        }

    def _params(self) -> Any:
        from fewner.backends.base import GenerationParams

        stops = tuple(dict.fromkeys(self.template.stop))
        return GenerationParams(max_new_tokens=self.max_new_tokens, stop=stops)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
            self._extractor = None

    # ----- saving and loading ----------------------------------------------------------------
    def _save_payload(self, folder: Path) -> dict[str, Any]:
        if self.adapter is not None and self.adapter.resolve() != (folder / ADAPTER_DIR).resolve():
            target = folder / ADAPTER_DIR
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(self.adapter, target)
        settings = self.settings()
        settings["model"] = _inside(self.model, folder)
        settings["adapter"] = ADAPTER_DIR if self.adapter is not None else None
        settings["definitions"] = {**_plain(self._definitions), **settings["definitions"]}
        return {
            "settings": settings,
            "base_model": self.base_model or base_model_record(self.model),
            "training": self.training,
            "metrics": self.metrics,
        }

    @classmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> ExtractorPredictor:
        fixed = sorted(set(overrides) & PROMPT_SETTINGS)
        if fixed:
            raise ConfigError(
                f"{folder}: {', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} fixed by "
                "training (see its fewner.json); do not pass "
                f"{'it' if len(fixed) == 1 else 'them'} when loading a saved model"
            )
        s = dict(manifest.settings)
        if not Path(s["model"]).is_absolute() and (folder / s["model"]).is_dir():
            s["model"] = str((folder / s["model"]).resolve())  # weights saved inside the folder
        _check_base(folder, manifest.base_model, s["model"])
        adapter = folder / s["adapter"] if s.get("adapter") else None
        kwargs: dict[str, Any] = {
            "adapter": adapter,
            "backend": s.get("backend", "hf"),
            "template": s.get("template_name", "obp-llm"),
            "layout": s.get("layout"),
            "definitions": s.get("definitions") or None,
            "max_new_tokens": s.get("max_new_tokens", 64),
            "batch_size": s.get("batch_size", 16),
            "base_model": manifest.base_model,
            "training": manifest.training,
            "metrics": manifest.metrics,
        }
        for key in ("chat", "system", "generic_definitions", "constrained", "edge_punctuation", "max_words",
                    "max_mentions", "abstain", "none_bias", "retype", "span_extension", "spacy_model"):
            if key in s:
                kwargs[key] = s[key]
        kwargs.update(overrides)
        return cls(s["model"], manifest.labels, **kwargs)

    # ----- internals -----------------------------------------------------------------------
    def backend(self) -> Any:
        """The backend, created on first use."""
        if self._backend is None:
            from fewner.backends.factory import make_backend

            options = dict(self.backend_options)
            if self.backend_name == "hf":
                options.setdefault("batch_size", self.batch_size)
                # sentence first: every label's prompt of a sentence shares its prefix
                options.setdefault("prefix_sharing", self.template.layout == "sentence_first")
                if self.adapter is not None:
                    options["adapter"] = self.adapter
            self._backend = make_backend(self.backend_name, self.model, cache=self.cache, **options)
        return self._backend

    def _extractor_for(self, labels: list[str]) -> Any:
        from fewner.backends.base import GenerationParams
        from fewner.predict import Extractor
        from fewner.prompts import ExtractionFormat

        definitions = {**_plain(self._definitions), **self.definitions_for(labels)}
        if self._extractor is None or any(
            self._extractor.fmt.definitions.get(lab) != definitions[lab] for lab in labels
        ):
            fmt = ExtractionFormat(self.template, definitions)
            self._extractor = Extractor(
                self.backend(),
                fmt,
                params=GenerationParams(max_new_tokens=self.max_new_tokens),
                batch_size=self.batch_size,
                **self.options,
            )
        return self._extractor


def cut_answers_warning(count: int, max_new_tokens: int) -> str:
    """The plain sentence for ``count`` answers cut at the token budget (the parser's
    ``truncated``: an answer that stops inside a mention)."""
    return (
        f"{count} answer{'s' if count != 1 else ''} ended mid-mention, cut at max_new_tokens="
        f"{max_new_tokens} (mentions after the cut are lost); pass --max-new-tokens "
        f"{max_new_tokens * 2} (or max_new_tokens= in Python) to let them finish"
    )


def _definitions(source: str | Path | Mapping[str, str] | None) -> Mapping[str, str]:
    if source is None:
        return {}
    from fewner.prompts.definitions import load_definitions

    return load_definitions(source)


def _inside(model: str, folder: Path) -> str:
    """``model`` relative to ``folder`` when it is a folder inside it (a fully trained model's
    weights travel with its fewner.json), else as given."""
    path = Path(model)
    if path.is_dir():
        try:
            return path.resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            pass
    return model


def _plain(definitions: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(definitions).items()}


def _describe(source: Any) -> str | None:
    if source is None or isinstance(source, str | Path):
        return None if source is None else str(source)
    return "<mapping>"


def _check_base(folder: Path, recorded: dict[str, Any] | None, model: str) -> None:
    """A folder whose recorded base model differs from the catalogue's today is refused: its
    adapter was trained on other weights."""
    if not recorded or "sha256" not in recorded:
        return
    current = base_model_record(model).get("sha256")
    if current is not None and current != recorded["sha256"]:
        raise ModelNotAvailableError(
            f"{folder}: trained on {model} with sha256 {recorded['sha256'][:12]}..., but the "
            f"installed {model} has sha256 {current[:12]}...; install the model it was trained "
            "on, or retrain"
        )


from fewner.predictors import PREDICTORS  # noqa: E402 - registered once the class exists

PREDICTORS.register(ExtractorPredictor.kind, ExtractorPredictor)
