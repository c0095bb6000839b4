"""The EL4NER in-context ensemble as a predictor: no training, a labeled pool of demonstrations.

Wraps :class:`fewner.icl.IclPipeline`. What it saves is what it is: the ensemble config
(``config.json`` inside the manifest's settings), the demonstration pool (``pool.jsonl``) and
the definitions. Models, the retriever's encoder and the pipeline are built on first use and
rebuilt when a call asks for another label set (the pool is restricted to the labels asked).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fewner.predictors.base import Predictions, Predictor
from fewner.types import Sentence

__all__ = ["IclPredictor"]

POOL_FILE = "pool.jsonl"


class IclPredictor(Predictor):
    """An in-context ensemble over ``pool``; ``config``: an :class:`~fewner.icl.config.IclConfig`
    or a mapping validated into one (the keys of the packaged ``el4ner`` preset, ``fewner/resources/icl/el4ner.yaml``). ``definitions``: a mapping,
    a shipped name or a path (labels without one are asked by name). ``cache``: SQLite answer
    cache shared by the members. ``make`` / ``encoder``: a backend factory and a retrieval
    encoder to use instead of the configured ones (tests pass scripted models and a tiny
    encoder)."""

    kind = "icl"
    language_model = True
    open_labels = True
    #: Each prompt holds demonstrations (pool sentences) and one query sentence, answered within
    #: a token budget; a longer sentence of a document is cut into chunks of 96 words.
    window_words = 96

    def __init__(
        self,
        config: Any,
        pool: Iterable[Sentence],
        labels: Iterable[str] | None = None,
        *,
        definitions: str | Path | Mapping[str, str] | None = None,
        cache: str | Path | None = None,
        make: Callable[..., Any] | None = None,
        encoder: Any = None,
        log: Callable[[str], object] = lambda _m: None,
    ) -> None:
        from fewner.icl.config import IclConfig, load_icl_config

        self.config = config if isinstance(config, IclConfig) else load_icl_config(dict(config))
        self.pool = list(pool)
        found = sorted({s.label for x in self.pool for s in x.spans})
        super().__init__(labels if labels is not None else found)
        if definitions is None and self.config.definitions is not None:
            definitions = self.config.definitions
        self.definitions_source = definitions
        self.definitions: dict[str, str] = _load(definitions)
        self.cache = None if cache is None else Path(cache)
        self.batch_sentences = max(1, self.config.batch_sentences)
        self._make = make
        self._encoder = encoder
        self._members: list[Any] | None = None
        self._pipeline: Any = None
        self._pipeline_labels: list[str] | None = None
        self._log = log
        self._seconds = {"model_load_seconds": 0.0, "retrieval_fit_seconds": 0.0}

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        pipeline = self.pipeline(labels)
        before = Counter(pipeline.totals)
        result = Predictions()
        for item in pipeline.run(sentences):
            result.sentences.append(item.final)
            result.records.append(
                {
                    "sentence_id": item.sentence.id,
                    "demonstrations": item.demonstrations,
                    "proposals": item.proposals,
                    "kept": item.kept,
                    "unvalidated": [[s.start, s.end, s.label] for s in item.unvalidated.spans],
                    "final": [[s.start, s.end, s.label] for s in item.final.spans],
                    "answers": item.answers,
                }
            )
        after = Counter(pipeline.totals)
        after.subtract(before)
        result.stats.update({k: v for k, v in after.items() if v})
        return result

    def settings(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "pool_sentences": len(self.pool),
            "definitions": {k: v for k, v in self.definitions.items() if k in self.labels},
        }

    def runtime_counters(self) -> dict[str, Any]:
        """Seconds spent loading models and fitting retrieval, and each model's cache counts."""
        return {
            **{k: round(v, 3) for k, v in self._seconds.items()},
            "cache": {
                m.name: {"hits": getattr(m.backend, "hits", None),
                         "misses": getattr(m.backend, "misses", None)}
                for m in self._members or []
            },
        }

    def close(self) -> None:
        from fewner.icl.members import close_members

        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
        if self._members is not None:
            close_members(self._members)
            self._members = None

    def model_stats(self) -> dict[str, dict[str, float | int]]:
        """Per-model counters of the pipeline so far (empty before the first prediction)."""
        return {} if self._pipeline is None else self._pipeline.model_stats()

    # ----- saving and loading ----------------------------------------------------------------
    def _save_payload(self, folder: Path) -> dict[str, Any]:
        from fewner.data.formats.jsonl import write_jsonl

        write_jsonl(self.pool, folder / POOL_FILE)
        settings = self.settings()
        settings["definitions"] = dict(self.definitions)
        settings["pool"] = POOL_FILE
        return {"settings": settings}

    @classmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> IclPredictor:
        from fewner.data.io import read_corpus

        s = manifest.settings
        pool = read_corpus(folder / s.get("pool", POOL_FILE), format="jsonl").sentences
        kwargs: dict[str, Any] = {"definitions": s.get("definitions") or None}
        kwargs.update(overrides)
        return cls(s["config"], pool, manifest.labels, **kwargs)

    # ----- internals -----------------------------------------------------------------------
    def pipeline(self, labels: list[str]) -> Any:
        """The :class:`~fewner.icl.IclPipeline` for ``labels``: models loaded on first use,
        retrieval fitted on the pool restricted to ``labels`` (rebuilt when they change)."""
        import time

        from fewner.icl.members import build_members, close_members, restrict_pool
        from fewner.icl.pipeline import IclPipeline
        from fewner.icl.prompts import IclPrompter

        if self._pipeline is not None and self._pipeline_labels == labels:
            return self._pipeline
        started = time.perf_counter()
        pool, _ = restrict_pool(self.pool, labels)
        retriever = self._retriever().fit(pool)
        self._seconds["retrieval_fit_seconds"] += time.perf_counter() - started
        if self._members is None:
            started = time.perf_counter()
            make_kw = {} if self._make is None else {"make": self._make}
            self._members = build_members(self.config, self.cache, log=self._log, **make_kw)
            self._seconds["model_load_seconds"] += time.perf_counter() - started
        elif self._pipeline is not None:
            self._pipeline.close()
        prompter = IclPrompter(tuple(labels), dict(self.definitions))
        try:
            self._pipeline = IclPipeline(
                self._members, prompter, retriever, self.config.pipeline_settings()
            )
        except BaseException:
            close_members(self._members)
            self._members = None
            raise
        self._pipeline_labels = list(labels)
        return self._pipeline

    def _retriever(self) -> Any:
        from fewner.icl.retrieval import make_retriever

        r = self.config.retrieval
        encoder = self._encoder
        if encoder is None and _needs_encoder(r.method):
            from fewner.icl.encoder import SentenceTransformerEncoder

            encoder = self._encoder = SentenceTransformerEncoder(r.encoder, threads=r.encoder_threads)
        return make_retriever(
            r.method,
            encoder=encoder,
            seed=self.config.seed,
            max_words=r.max_words,
            max_candidates=r.max_candidates,
        )


def _needs_encoder(method: str) -> bool:
    from fewner.icl import retrieval

    table = getattr(retrieval, "NEEDS_ENCODER", None)
    if isinstance(table, dict):
        return bool(table.get(method, True))
    factory = retrieval.RETRIEVERS[method]
    return bool(getattr(factory, "needs_encoder", True))


def _load(definitions: str | Path | Mapping[str, str] | None) -> dict[str, str]:
    if definitions is None:
        return {}
    from fewner.prompts.definitions import load_definitions

    return dict(load_definitions(definitions))


from fewner.predictors import PREDICTORS  # noqa: E402 - registered once the class exists

PREDICTORS.register(IclPredictor.kind, IclPredictor)
