"""EL4NER's three stages across an ensemble of models.

For each batch of query sentences:

0. **retrieval** — the retriever picks ``k`` pool sentences per query; they are written most
   similar *last*, next to the query, where small models attend most;
1. **span extraction** — every model lists the mentions it sees (optionally constrained to
   word-aligned substrings of the sentence while decoding; off by default: on large
   vocabularies the grammar sampler slows stage 1 down several times, and unconstrained answers
   are parsed leniently instead; measurements: docs/design-notes.md, fewner/icl/pipeline.py);
   a span is kept when it passes the span vote
   (:func:`fewner.icl.voting.passes`, ``span_threshold`` of the answering models);
2. **type classification** — every model names a type (or ``none``) for every kept span; the
   type vote picks one (:func:`fewner.icl.voting.choose`); ``none`` drops the span. With
   ``classify_constrained`` the answer is restricted to the type names and ``none`` while
   decoding (:class:`fewner.decoding.choice.ChoiceConstraint`; grammar backends only);
3. **self-validation** (``validate=True``) — every model answers whether "SPAN is a TYPE in this
   sentence" (with ``classify_constrained``: restricted to ``yes`` / ``no`` while decoding);
   a span whose ``yes`` share of the answering models is below ``validate_threshold`` is
   dropped.

The predictions before and after stage 3 are both returned, so one run reports the ensemble
without and with self-validation. Overlapping survivors are made flat with
:func:`fewner.spans.merge_spans` (longer span first), as ``fewner predict`` does.

Every prompt of one stage goes to a model in one ``generate`` call, sentence by sentence, so a
backend that reuses the previous prompt's KV cache (llama.cpp) or a cache wrapper (reruns are
free) works at its best; with ``batch_sentences=1`` (the default) the three stages of a sentence
follow each other on each model, and each shared context (:mod:`fewner.icl.prompts`: one for
stages 1-2, one for stage 3) is evaluated once per sentence and model.

Per model, :attr:`IclPipeline.stats` counts answers and **parse failures** per stage
(``extract_failures``, ``classify_failures``, ``validate_failures``: answers that could not be
read; such a model abstains from that vote), the parser's counters for stage 1
(``extract_not_found``, ``extract_truncated``, ...; ``extract_too_long``: mentions over
``max_words`` words, dropped), and ``seconds`` spent in its backend.
:attr:`IclPipeline.totals` counts the ensemble's decisions (``proposed``, ``kept``, ``typed``,
``typed_none``, ``validated``, ``rejected``, ``undecided``, ``merged_away``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fewner.backends.base import Backend, GenerationParams
from fewner.errors import ConfigError
from fewner.icl.prompts import IclPrompter, parse_type, parse_yes_no
from fewner.icl.retrieval import Retriever
from fewner.icl.voting import NONE, check_threshold, choose, get_voter, passes
from fewner.spans import merge_spans, snap_to_tokens
from fewner.types import Sentence, Span

__all__ = ["IclPipeline", "Member", "PipelineSettings", "SentenceResult"]


@dataclass
class Member:
    """One model of the ensemble: a display name (unique), its backend and its vote weight.

    ``worker``: a one-thread executor on which every call to ``backend`` runs, for
    ``parallel=True``. A backend holding a thread-bound resource (the SQLite cache) must have
    been *created* on that thread too: :func:`fewner.icl.runner.build_members` does so.
    """

    name: str
    backend: Backend
    weight: float = 1.0
    worker: ThreadPoolExecutor | None = None


@dataclass(frozen=True)
class PipelineSettings:
    """Everything that decides the predictions besides the models, prompts and retriever.

    ``k``: demonstrations per query. ``shared_pool``: every prompt first shows the whole pool
    in pool order, then the query's ``k`` retrieved demonstrations (so every prompt shares that
    long prefix, which a KV-reusing backend evaluates once, and the most similar examples still
    come last). ``span_threshold`` / ``validate_threshold``: share of the
    answering models' weight needed to keep a span (stage 1) / a typed span (stage 3).
    ``*_voter``: a name in :data:`fewner.icl.voting.VOTERS`. ``constrained``: stage-1 mentions
    restricted to substrings of the input while decoding (otherwise parsed leniently and
    dropped when not in the sentence). ``max_words``: longest mention
    (words). ``max_mentions``: most mentions per stage-1 answer (constrained). ``extract_tokens``
    / ``answer_tokens``: token limits of the stage-1 and stage-2/3 answers.
    ``classify_constrained``: stage-2 answers restricted to a type name or ``none`` and stage-3
    answers to ``yes`` or ``no`` while decoding (off: a word outside the list is a parse failure
    and abstains).
    ``batch_sentences``: sentences per backend call (1 suits llama.cpp; raise it for hf/vLLM).
    ``parallel``: the models answer each stage at the same time, one thread each (several
    servers, or several cores for in-process llama.cpp: it releases the GIL while it computes);
    results do not depend on it.
    """

    k: int = 4
    shared_pool: bool = False
    span_threshold: float = 0.5
    span_voter: str = "majority"
    type_voter: str = "majority"
    validate: bool = True
    validate_threshold: float = 0.5
    validate_voter: str = "majority"
    constrained: bool = False
    max_words: int = 6
    max_mentions: int | None = 8
    extract_tokens: int = 48
    answer_tokens: int = 6
    classify_constrained: bool = False
    batch_sentences: int = 1
    parallel: bool = False

    def check(self) -> None:
        for name in ("k", "max_words", "extract_tokens", "answer_tokens", "batch_sentences"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_mentions is not None and self.max_mentions < 1:
            raise ConfigError(f"max_mentions must be >= 1 or null, got {self.max_mentions}")
        check_threshold(self.span_threshold, "span_threshold")
        check_threshold(self.validate_threshold, "validate_threshold")
        for name in ("span_voter", "type_voter", "validate_voter"):
            get_voter(getattr(self, name))  # raises on an unknown name


@dataclass
class SentenceResult:
    """What the ensemble did with one query sentence.

    ``unvalidated`` and ``final`` are the input sentence with the predicted spans before and
    after stage 3 (equal when validation is off). ``answers``: one record per model answer.
    """

    sentence: Sentence
    demonstrations: list[str]
    proposals: dict[str, list[tuple[int, int]] | None]
    kept: list[tuple[int, int]]
    unvalidated: Sentence
    final: Sentence
    answers: list[dict[str, Any]] = field(default_factory=list)


class IclPipeline:
    """Runs the three stages with ``members`` on query sentences (module docstring)."""

    def __init__(
        self,
        members: Sequence[Member],
        prompter: IclPrompter,
        retriever: Retriever,
        settings: PipelineSettings | None = None,
    ) -> None:
        if not members:
            raise ConfigError("the ensemble needs at least one model")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ConfigError(f"model names must be unique, got {names}")
        if not retriever.pool:
            raise ConfigError("fit the retriever on the demonstration pool first")
        self.members = list(members)
        self.prompter = prompter
        self.retriever = retriever
        self.settings = settings or PipelineSettings()
        self.settings.check()
        self.weights = {m.name: m.weight for m in self.members}
        self.stats: dict[str, Counter[str]] = {m.name: Counter() for m in self.members}
        self.totals: Counter[str] = Counter()
        self._own_workers: dict[str, ThreadPoolExecutor] = {}
        s = self.settings
        self._extract_params = GenerationParams(max_new_tokens=s.extract_tokens, stop=("\n",))
        self._answer_params = GenerationParams(max_new_tokens=s.answer_tokens, stop=("\n",))

    # ----- public ------------------------------------------------------------------------
    def run(
        self, sentences: Iterable[Sentence], progress: Callable[[int], object] | None = None
    ) -> Iterator[SentenceResult]:
        """Yield one result per sentence, in input order (gold spans in the input are ignored).

        ``progress`` is called with the number of sentences finished after each batch.
        """
        batch: list[Sentence] = []
        for sentence in sentences:
            batch.append(sentence.with_spans(()))
            if len(batch) == self.settings.batch_sentences:
                yield from self._batch(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            yield from self._batch(batch)
            if progress:
                progress(len(batch))

    def settings_dict(self) -> dict[str, Any]:
        """Models, retriever and settings, for a run's resolved config."""
        return {
            "models": [
                {
                    "name": m.name,
                    "model_id": m.backend.model_id,
                    "backend": getattr(m.backend, "inner", m.backend).name,
                    "weight": m.weight,
                }
                for m in self.members
            ],
            "retrieval": self.retriever.settings(),
            "pool_size": len(self.retriever.pool),
            "types": list(self.prompter.types),
            **{k: v for k, v in vars(self.settings).items()},
        }

    # ----- stages ------------------------------------------------------------------------
    def _generate_all(
        self,
        prompts: list[str],
        params: GenerationParams,
        constraints: list[Any] | None = None,
    ) -> dict[str, list[str]]:
        """Every model's answers to ``prompts`` (at once when ``parallel``), by model name."""
        if not prompts:
            return {m.name: [] for m in self.members}

        def call(member: Member) -> tuple[list[str], float]:
            started = time.perf_counter()
            answers = member.backend.generate(prompts, params, constraints)
            return answers, time.perf_counter() - started

        if self.settings.parallel:
            futures = {m.name: self._worker(m).submit(call, m) for m in self.members}
            results = {name: f.result() for name, f in futures.items()}
        else:
            results = {m.name: call(m) for m in self.members}
        for name, (_, seconds) in results.items():
            self.stats[name]["seconds_x1000"] += round(1000 * seconds)
        return {name: answers for name, (answers, _) in results.items()}

    def _worker(self, member: Member) -> ThreadPoolExecutor:
        if member.worker is not None:
            return member.worker
        if member.name not in self._own_workers:
            self._own_workers[member.name] = ThreadPoolExecutor(
                1, thread_name_prefix=f"icl-{member.name}"
            )
        return self._own_workers[member.name]

    def close(self) -> None:
        """Stop the worker threads this pipeline started (not the members' own)."""
        for worker in self._own_workers.values():
            worker.shutdown(wait=True)
        self._own_workers.clear()

    def _batch(self, batch: list[Sentence]) -> Iterator[SentenceResult]:
        s = self.settings
        pool = self.retriever.pool
        ranked = self.retriever.retrieve_many(batch, s.k)
        shown = [self._shown(idx) for idx in ranked]
        contexts = [
            self.prompter.context(demos, q) for demos, q in zip(shown, batch, strict=True)
        ]
        records: list[list[dict[str, Any]]] = [[] for _ in batch]
        proposals = self._extract(batch, contexts, records)
        kept = [self._vote_spans(p) for p in proposals]
        typed = self._classify(batch, contexts, kept, records)
        if s.validate:
            checks = [
                self.prompter.validation_context(demos, q)
                for demos, q in zip(shown, batch, strict=True)
            ]
            validated = self._validate(batch, checks, typed, records)
        else:
            validated = typed
        for i, sentence in enumerate(batch):
            before, dropped_before = merge_spans(typed[i], self.prompter.types)
            after, dropped_after = merge_spans(validated[i], self.prompter.types)
            self.totals["merged_away"] += sum(dropped_after.values())
            self.totals["merged_away_unvalidated"] += sum(dropped_before.values())
            self.totals["sentences"] += 1
            yield SentenceResult(
                sentence=sentence,
                demonstrations=[pool[j].id for j in ranked[i]],
                proposals=proposals[i],
                kept=kept[i],
                unvalidated=sentence.with_spans(before),
                final=sentence.with_spans(after),
                answers=records[i],
            )

    def _shown(self, ranked: list[int]) -> list[Sentence]:
        """The demonstrations of one prompt, in prompt order: the shared pool (when
        ``shared_pool``), then the retrieved ones, the most similar last."""
        pool = self.retriever.pool
        shared = list(pool) if self.settings.shared_pool else []
        return shared + [pool[i] for i in reversed(ranked)]

    def _extract(
        self, batch: list[Sentence], contexts: list[str], records: list[list[dict[str, Any]]]
    ) -> list[dict[str, list[tuple[int, int]] | None]]:
        """Stage 1: each model's proposed spans per sentence (None: unparseable answer)."""
        s = self.settings
        prompts = [self.prompter.extraction_prompt(c) for c in contexts]
        constraints = (
            [
                self.prompter.extraction_constraint(
                    q, max_words=s.max_words, max_mentions=s.max_mentions
                )
                for q in batch
            ]
            if s.constrained
            else None
        )
        out: list[dict[str, list[tuple[int, int]] | None]] = [{} for _ in batch]
        by_model = self._generate_all(prompts, self._extract_params, constraints)
        for member in self.members:
            answers = by_model[member.name]
            stats = self.stats[member.name]
            for i, (query, answer) in enumerate(zip(batch, answers, strict=True)):
                parsed = self.prompter.parse_extraction(answer, query)
                stats.update({f"extract_{k}": v for k, v in parsed.stats.items()})
                # A format failure: neither "none" nor any mention (hallucinated mentions that
                # are not in the sentence are an answer proposing nothing, not a failure).
                failed = not parsed.mentions and not parsed.is_none
                spans: list[tuple[int, int]] | None = None
                if failed:
                    stats["extract_failures"] += 1
                else:
                    snapped = [snap_to_tokens(sp, query) for sp in parsed.spans]
                    fits = [
                        sp
                        for sp in snapped
                        if sp is not None and self._words(query, sp) <= s.max_words
                    ]
                    stats["extract_too_long"] += len(snapped) - len(fits)
                    spans = sorted({(sp.start, sp.end) for sp in fits})
                out[i][member.name] = spans
                records[i].append(
                    {
                        "stage": "extract",
                        "model": member.name,
                        "prompt_chars": len(prompts[i]),
                        "answer": answer,
                        "parsed": None if spans is None else [list(x) for x in spans],
                    }
                )
        return out

    @staticmethod
    def _words(sentence: Sentence, span: Span) -> int:
        covering = sentence.char_span_to_tokens_covering(span)
        return 1 if covering is None else covering[1] - covering[0]

    def _vote_spans(
        self, proposals: dict[str, list[tuple[int, int]] | None]
    ) -> list[tuple[int, int]]:
        voter = get_voter(self.settings.span_voter)
        offered = sorted({sp for spans in proposals.values() if spans for sp in spans})
        kept = []
        for sp in offered:
            ballots = {
                m: (None if spans is None else ("yes" if sp in spans else "no"))
                for m, spans in proposals.items()
            }
            score = voter.tally(ballots, self.weights)["yes"]
            if passes(
                score, voter.answered_weight(ballots, self.weights), self.settings.span_threshold
            ):
                kept.append(sp)
        self.totals["proposed"] += len(offered)
        self.totals["kept"] += len(kept)
        return kept

    def _ask(
        self,
        stage: str,
        questions: list[tuple[int, tuple[Any, ...], str]],
        constraint: Any | None,
        read: Callable[[str], tuple[Any, str | None, str]],
        records: list[list[dict[str, Any]]],
    ) -> list[dict[str, str | None]]:
        """Stages 2 and 3: every model answers every question; one ballot per question.

        ``questions``: (sentence index, span as recorded, prompt). ``constraint``: the same for
        every prompt, or None. ``read(answer)`` -> (parsed value for the record, vote or None
        for a parse failure, counter name). Counted per model: ``{stage}_answers``,
        ``{stage}_failures`` and ``{stage}_{counter name}``; one record per answer.
        """
        constraints = None if constraint is None else [constraint] * len(questions)
        by_model = self._generate_all(
            [prompt for _, _, prompt in questions], self._answer_params, constraints
        )
        ballots: list[dict[str, str | None]] = [{} for _ in questions]
        for member in self.members:
            stats = self.stats[member.name]
            answers = by_model[member.name]
            for (i, span, prompt), votes, answer in zip(questions, ballots, answers, strict=True):
                parsed, vote, counter = read(answer)
                stats[f"{stage}_answers"] += 1
                stats[f"{stage}_failures" if vote is None else f"{stage}_{counter}"] += 1
                votes[member.name] = vote
                records[i].append(
                    {
                        "stage": stage,
                        "model": member.name,
                        "span": list(span),
                        "prompt_chars": len(prompt),
                        "answer": answer,
                        "parsed": parsed,
                    }
                )
        return ballots

    def _read_type(self, answer: str) -> tuple[str | None, str | None, str]:
        choice = parse_type(answer, self.prompter.types)
        return choice, choice, "none" if choice == NONE else "type"

    @staticmethod
    def _read_check(answer: str) -> tuple[bool | None, str | None, str]:
        verdict = parse_yes_no(answer)
        vote = None if verdict is None else ("yes" if verdict else "no")
        return verdict, vote, vote or ""

    def _classify(
        self,
        batch: list[Sentence],
        contexts: list[str],
        kept: list[list[tuple[int, int]]],
        records: list[list[dict[str, Any]]],
    ) -> list[list[Span]]:
        """Stage 2: the voted type of each kept span (spans voted ``none`` are dropped)."""
        questions = []  # (sentence index, span, prompt)
        for i, (query, spans) in enumerate(zip(batch, kept, strict=True)):
            mentions = [query.text[a:b] for a, b in spans]
            for (a, b), mention in zip(spans, mentions, strict=True):
                prompt = self.prompter.classification_prompt(contexts[i], mentions, mention)
                questions.append((i, (a, b), prompt))
        constraint = (
            self.prompter.classification_constraint()
            if self.settings.classify_constrained
            else None
        )
        ballots = self._ask("classify", questions, constraint, self._read_type, records)
        voter = get_voter(self.settings.type_voter)
        typed: list[list[Span]] = [[] for _ in batch]
        for (i, (a, b), _), votes in zip(questions, ballots, strict=True):
            winner = choose(voter.tally(votes, self.weights), self.prompter.types)
            if winner is None or winner == NONE:
                self.totals["typed_none" if winner == NONE else "typed_undecided"] += 1
                continue
            self.totals["typed"] += 1
            typed[i].append(Span(a, b, winner))
        return typed

    def _validate(
        self,
        batch: list[Sentence],
        check_contexts: list[str],
        typed: list[list[Span]],
        records: list[list[dict[str, Any]]],
    ) -> list[list[Span]]:
        """Stage 3: keep a typed span when enough answering models say yes."""
        questions = [
            (
                i,
                (sp.start, sp.end, sp.label),
                self.prompter.validation_prompt(check_contexts[i], q.mention(sp), sp.label),
            )
            for i, (q, spans) in enumerate(zip(batch, typed, strict=True))
            for sp in spans
        ]
        # Under classify_constrained the checks get their own yes/no choice: the type-name
        # constraint would make every check unreadable (issue 16).
        constraint = (
            self.prompter.validation_constraint() if self.settings.classify_constrained else None
        )
        ballots = self._ask("validate", questions, constraint, self._read_check, records)
        voter = get_voter(self.settings.validate_voter)
        out: list[list[Span]] = [[] for _ in batch]
        for (i, span, _), votes in zip(questions, ballots, strict=True):
            sp = Span(*span)
            answered = voter.answered_weight(votes, self.weights)
            if answered == 0:
                self.totals["undecided"] += 1
                out[i].append(sp)  # nobody could answer: validation cannot judge, keep
            elif passes(
                voter.tally(votes, self.weights)["yes"], answered, self.settings.validate_threshold
            ):
                self.totals["validated"] += 1
                out[i].append(sp)
            else:
                self.totals["rejected"] += 1
        return out

    def model_stats(self) -> dict[str, dict[str, float | int]]:
        """Per-model counters, with ``seconds`` as a float (for metrics.json); the answer and
        failure counts of every stage are always present, zeros included."""
        result: dict[str, dict[str, float | int]] = {}
        always = [
            f"{stage}_{what}"
            for stage in ("extract", "classify", "validate")
            for what in ("answers", "failures")
        ]
        for name, counter in self.stats.items():
            row: dict[str, float | int] = {
                k: v for k, v in sorted(counter.items()) if k != "seconds_x1000"
            }
            row.update({k: counter.get(k, 0) for k in always})
            row["seconds"] = round(counter["seconds_x1000"] / 1000, 3)
            result[name] = dict(sorted(row.items()))
        return result
