"""The ``fewner`` spaCy pipeline component: any fewner model puts its entities on spaCy docs.

Why: people who already run spaCy want fewner's entities in their pipeline, next to (or instead
of) spaCy's own NER, without leaving spaCy. ::

    import spacy                                  # no `import fewner` needed: an entry point
    nlp = spacy.load("en_core_web_sm")            # or spacy.blank("en")
    nlp.add_pipe("fewner", config={"model": "my-ner/", "labels": ["person", "city"]})
    doc = nlp("Tim Cook flew to Berlin.")
    doc.ents, doc.spans["fewner"], doc.spans["fewner"].attrs["scores"]
    nlp.to_disk("pipeline/"); spacy.load("pipeline/")     # same entities

Contract:

* ``model``: what :func:`fewner.load` takes (a saved model folder, a catalogue name, ...), loaded
  once, on first use, with ``load_options``; ``labels``: the types asked for (default: the
  model's own).
* ``nlp.pipe(texts, batch_size=n)`` calls the predictor once per batch of ``n`` docs (docs with
  no text are not sent). Entity offsets are characters of ``doc.text``.
* Alignment: each entity becomes ``doc.char_span(start, end, alignment_mode=...)``.
  ``expand`` (the default) grows an entity whose edge falls inside a spaCy token to cover that
  token, ``contract`` shrinks it to the tokens inside it, ``strict`` keeps exact matches only.
  An entity that yields no span is left out, never silently: it is listed in the span group's
  ``attrs["misaligned"]``, counted in :attr:`FewnerComponent.stats` and a warning says how many.
* Span group ``doc.spans[spans_key]`` (``"fewner"``; null: none): every aligned entity, overlaps
  included, with ``attrs["scores"]`` (one score per span, None where the model gives none) and
  ``attrs["misaligned"]``.
* ``doc.ents`` (``annotate_ents``): a flat subset, spaCy's rule for overlaps among fewner's own
  spans (the longest, then the first, wins: ``spacy.util.filter_spans``). Entities already on the
  doc (an earlier ``ner``) follow ``overwrite_ents`` as in spaCy's ``entity_ruler``: false (the
  default) keeps them and adds fewner's only where no token is an entity yet; true puts fewner's
  first and removes the existing ones they overlap. To use fewner *instead of* spaCy's NER,
  ``nlp.replace_pipe("ner", "fewner", config=...)``.
* ``nlp.to_disk(path)`` stores the component's ``component.json`` (the model reference, its
  absolute path when it is a local folder, the labels) and, with ``include_model: true``, a copy
  of the model folder under ``path/<name>/model``, so the saved pipeline is self-contained;
  ``spacy.load(path)`` then uses that copy.

``import fewner`` never imports this module (it imports spaCy); spaCy imports it through the
``spacy_factories`` entry point whenever it creates a pipeline.
"""

import json
import os
import shutil
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import filter_spans, minibatch

from fewner.errors import ConfigError

__all__ = ["FewnerComponent", "make_fewner_component"]

COMPONENT_FILE = "component.json"
MODEL_DIR = "model"
ALIGNMENT_MODES = ("strict", "contract", "expand")

DEFAULT_CONFIG: dict[str, Any] = {
    "labels": None,
    "spans_key": "fewner",
    "annotate_ents": True,
    "overwrite_ents": False,
    "alignment_mode": "expand",
    "include_model": False,
    "load_options": {},
}


@Language.factory(
    "fewner",
    default_config=DEFAULT_CONFIG,
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
)
def make_fewner_component(
    nlp: Language,
    name: str,
    model: str,
    labels: list[str] | None,
    spans_key: str | None,
    annotate_ents: bool,
    overwrite_ents: bool,
    alignment_mode: str,
    include_model: bool,
    load_options: dict[str, Any],
) -> "FewnerComponent":
    """spaCy's factory for ``nlp.add_pipe("fewner", config={...})`` (module docstring)."""
    return FewnerComponent(
        name,
        model=model,
        labels=labels,
        spans_key=spans_key,
        annotate_ents=annotate_ents,
        overwrite_ents=overwrite_ents,
        alignment_mode=alignment_mode,
        include_model=include_model,
        load_options=load_options,
    )


class FewnerComponent:
    """Runs a fewner predictor over docs (module docstring for the contract).

    ``stats`` counts, over the component's life: ``docs``, ``predictor_calls``, ``entities``
    (from the model), ``realigned`` (edges moved to spaCy tokens), ``misaligned`` (left out:
    no span under ``alignment_mode``), ``in_span_group``, ``on_ents``, ``overlapping`` (not on
    ``doc.ents``: overlapped a longer fewner span), ``kept_existing`` (not on ``doc.ents``: an
    existing entity was there) and ``replaced_existing`` (existing entities removed).
    """

    def __init__(
        self,
        name: str = "fewner",
        *,
        model: str,
        labels: Sequence[str] | None = None,
        spans_key: str | None = "fewner",
        annotate_ents: bool = True,
        overwrite_ents: bool = False,
        alignment_mode: str = "expand",
        include_model: bool = False,
        load_options: dict[str, Any] | None = None,
    ) -> None:
        if alignment_mode not in ALIGNMENT_MODES:
            raise ConfigError(
                f"fewner component {name!r}: alignment_mode must be one of "
                f"{', '.join(ALIGNMENT_MODES)}, got {alignment_mode!r}"
            )
        if not spans_key and not annotate_ents:
            raise ConfigError(
                f"fewner component {name!r}: with spans_key null and annotate_ents false it would "
                "write nothing; set one of them"
            )
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"fewner component {name!r}: model must be a non-empty string")
        self.name = name
        self.model = model
        self._labels = list(labels) if labels is not None else None
        self.spans_key = spans_key or None
        self.annotate_ents = annotate_ents
        self.overwrite_ents = overwrite_ents
        self.alignment_mode = alignment_mode
        self.include_model = include_model
        self.load_options = dict(load_options or {})
        self.stats: Counter[str] = Counter()
        self._source = model  # what fewner.load gets: the model, or the copy from_disk found
        self._predictor: Any = None

    # ----- the model --------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        """The configured labels; () when the model's own are used (spaCy lists these in
        ``nlp.pipe_labels`` and the saved meta, without loading the model)."""
        return tuple(self._labels or ())

    @property
    def predictor(self) -> Any:
        """The fewner predictor, loaded on first use."""
        if self._predictor is None:
            import fewner

            if _looks_like_path(self._source) and not Path(self._source).expanduser().is_dir():
                raise ConfigError(
                    f"fewner component {self.name!r}: model folder {self._source!r} not found "
                    f"(relative to {os.getcwd()}); pass an existing folder, or save the pipeline "
                    "with include_model: true so it carries a copy"
                )
            self._predictor = fewner.load(self._source, **self.load_options)
        return self._predictor

    def close(self) -> None:
        """Release the predictor (it is loaded again on next use)."""
        if self._predictor is not None:
            self._predictor.close()
            self._predictor = None

    # ----- spaCy's component protocol ----------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        self._annotate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        for batch in minibatch(stream, size=batch_size):
            docs = list(batch)
            self._annotate(docs)
            yield from docs

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        local = _local_folder(self._source)
        info: dict[str, Any] = {
            "model": self.model,
            "model_path": str(local) if local is not None else None,
            "labels": self._labels,
            "included_model": False,
        }
        if self.include_model:
            self._store_model(path / MODEL_DIR, local)
            info["included_model"] = True
        (path / COMPONENT_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "FewnerComponent":
        path = Path(path)
        info_path = path / COMPONENT_FILE
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
        source = self.model
        if info.get("included_model") and (path / MODEL_DIR).is_dir():
            source = str(path / MODEL_DIR)
        elif _local_folder(self.model) is None and info.get("model_path"):
            if Path(info["model_path"]).is_dir():  # saved from elsewhere with a relative path
                source = info["model_path"]
        if source != self._source:
            self.close()
            self._source = source
        return self

    # ----- internals ---------------------------------------------------------------------------
    def _annotate(self, docs: list[Doc]) -> None:
        todo = [doc for doc in docs if doc.text.strip()]
        found: list[list[Any]] = []
        if todo:
            found = self.predictor.predict([doc.text for doc in todo], self._labels)
            self.stats["predictor_calls"] += 1
        by_doc = {id(doc): ents for doc, ents in zip(todo, found, strict=True)}
        misaligned = sum(self.set_annotations(doc, by_doc.get(id(doc), [])) for doc in docs)
        self.stats["docs"] += len(docs)
        if misaligned:
            where = (
                f"listed in doc.spans[{self.spans_key!r}].attrs['misaligned'] and "
                if self.spans_key
                else ""
            )
            warnings.warn(
                f"fewner component {self.name!r}: {misaligned} entit{'y' if misaligned == 1 else 'ies'}"
                f" did not map to spaCy tokens (alignment_mode={self.alignment_mode!r}) and "
                f"{'was' if misaligned == 1 else 'were'} left out; {where}counted in "
                f"nlp.get_pipe({self.name!r}).stats",
                stacklevel=2,
            )

    def set_annotations(self, doc: Doc, entities: Sequence[Any]) -> int:
        """Put fewner ``entities`` (:class:`fewner.Entity`) on ``doc``; returns how many did not
        map to spaCy tokens."""
        spans: list[Span] = []
        scores: list[float | None] = []
        misaligned: list[dict[str, Any]] = []
        for ent in entities:
            span = doc.char_span(ent.start, ent.end, label=ent.label, alignment_mode=self.alignment_mode)
            if span is None:
                misaligned.append({"start": ent.start, "end": ent.end, "label": ent.label})
                continue
            if (span.start_char, span.end_char) != (ent.start, ent.end):
                self.stats["realigned"] += 1
            spans.append(span)
            scores.append(ent.score)
        self.stats["entities"] += len(entities)
        self.stats["misaligned"] += len(misaligned)
        if self.spans_key:
            attrs = {"scores": scores, "misaligned": misaligned}
            doc.spans[self.spans_key] = SpanGroup(doc, name=self.spans_key, spans=spans, attrs=attrs)
            self.stats["in_span_group"] += len(spans)
        if self.annotate_ents:
            self._set_ents(doc, spans)
        return len(misaligned)

    def _set_ents(self, doc: Doc, spans: list[Span]) -> None:
        flat = filter_spans(spans)
        self.stats["overlapping"] += len(spans) - len(flat)
        existing = list(doc.ents)
        if self.overwrite_ents:
            new = flat
            kept = [e for e in existing if not any(e.start < s.end and s.start < e.end for s in new)]
            self.stats["replaced_existing"] += len(existing) - len(kept)
        else:
            taken = {i for e in existing for i in range(e.start, e.end)}
            new = [s for s in flat if not taken.intersection(range(s.start, s.end))]
            self.stats["kept_existing"] += len(flat) - len(new)
            kept = existing
        doc.ents = sorted(kept + new, key=lambda s: (s.start, s.end))
        self.stats["on_ents"] += len(new)

    def _store_model(self, dest: Path, local: Path | None) -> None:
        """A copy of the model folder at ``dest`` (written beside it, then moved into place)."""
        if local is not None and local.resolve() == dest.resolve():
            return  # saving a pipeline over the folder it was loaded from
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if local is not None:
            shutil.copytree(local, partial)
        else:  # a catalogue name or hub id: what the loaded predictor saves
            self.predictor.save(partial)
        shutil.rmtree(dest, ignore_errors=True)
        partial.rename(dest)


def _local_folder(model: str) -> Path | None:
    path = Path(model).expanduser()
    return path.resolve() if path.is_dir() else None


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or model.endswith(("/", os.sep))
