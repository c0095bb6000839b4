"""The one interface through which every fewner method talks to a language model.

A backend turns raw prompt strings into completions. Chat formatting is the caller's job
(:meth:`Backend.chat_prompt` helps where the backend knows a chat template), so the same prompt
string means the same thing to every backend and to the cache.

:meth:`Backend.generate` is the one place where every backend's input is checked and every
answer is finished (cut at the stop strings, then the constraint's after-decoding step); a backend
implements only :meth:`Backend._generate`, its own decoding. Backends are registered by name in
:data:`BACKENDS` (a :class:`fewner.registry.Registry`) so configs and the CLI can pick one, and
the shared contract tests in ``tests/contract`` run against every registered backend.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from fewner.errors import BackendError
from fewner.registry import Registry

if TYPE_CHECKING:  # imported for annotations only: keeps this module light
    from fewner.decoding.constraint import Constraint


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings. ``temperature == 0`` means greedy decoding.

    ``stop``: generation ends at the first occurrence of any of these strings, which is not
    included in the returned text. ``seed`` makes sampling reproducible where the backend
    allows it. ``first_token_bias``: ``(text, bias)`` pairs; at the first answer position
    only, ``bias`` is added to the logit of the first token of ``text`` (how an extractor
    shifts its "none" decision, :mod:`fewner.predict.calibration`). A backend that cannot do
    this refuses non-empty biases with a :class:`~fewner.errors.BackendError`
    (:func:`refuse_first_token_bias`).
    """

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    first_token_bias: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not (0 < self.top_p <= 1):
            raise ValueError("top_p must be in (0, 1]")
        object.__setattr__(self, "stop", tuple(self.stop))
        bias = tuple((str(text), float(value)) for text, value in self.first_token_bias)
        if any(not text for text, _ in bias):
            raise ValueError("first_token_bias texts must be non-empty")
        object.__setattr__(self, "first_token_bias", tuple((t, v) for t, v in bias if v != 0.0))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """A stable hash of the settings, used in cache keys (no bias hashes as before biases
        existed, so older caches stay valid)."""
        settings = self.as_dict()
        if not settings["first_token_bias"]:
            del settings["first_token_bias"]
        blob = json.dumps(settings, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


DEFAULT_PARAMS = GenerationParams()  # frozen, so safe as a default argument


def per_prompt_constraints(
    n_prompts: int, constraints: Sequence[Constraint | None] | None
) -> list[Constraint | None]:
    """One constraint (or None) per prompt; every backend's ``generate`` checks its input here."""
    if constraints is None:
        return [None] * n_prompts
    if len(constraints) != n_prompts:
        raise ValueError("constraints must be None or one per prompt")
    return list(constraints)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Truncate ``text`` at the earliest stop string (shared by all backends)."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def first_token_bias_ids(
    params: GenerationParams, tokenize: Callable[[str], Sequence[int]]
) -> dict[int, float]:
    """``params.first_token_bias`` as token id -> bias (summed where two texts share a first
    token), with ``tokenize`` the backend's own tokenizer without special tokens."""
    biases: dict[int, float] = {}
    for text, value in params.first_token_bias:
        ids = list(tokenize(text))
        if not ids:
            raise BackendError(f"first_token_bias: {text!r} has no tokens")
        biases[int(ids[0])] = biases.get(int(ids[0]), 0.0) + value
    return biases


def refuse_first_token_bias(backend_name: str, params: GenerationParams) -> None:
    """Raise for a backend that cannot bias only the first answer token, when asked to."""
    if params.first_token_bias:
        raise BackendError(
            f"the {backend_name} backend cannot bias the first answer token "
            f"(first_token_bias={list(params.first_token_bias)}); use the hf or llamacpp "
            "backend, or none_bias=0"
        )


class Backend(abc.ABC):
    """A language model that completes prompts.

    Subclasses set ``name`` (the registry name), ``model_id`` (identifies the model and adapter
    for cache keys) and implement :meth:`_generate`; :meth:`generate` wraps it with what every
    backend shares. ``supports_token_constraints`` says whether constraints are enforced while
    decoding (True) or by another mechanism: a grammar or regex the server applies, or filtering
    after generation (:meth:`_constrain`; see :mod:`fewner.decoding.constraint`).
    """

    name: str = "abstract"
    supports_token_constraints: bool = False

    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """Identity of the model (and adapter) behind this backend, for cache keys and logs."""

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams = DEFAULT_PARAMS,
        constraints: Sequence[Constraint | None] | None = None,
    ) -> list[str]:
        """Complete each prompt; ``constraints[i]`` (if given) restricts completion ``i``.

        Checks the arguments (one constraint or None per prompt; no prompts, no call), asks
        :meth:`_generate` for one completion per prompt, cuts each at the earliest stop string
        (:func:`cut_at_stop`) and passes each constrained one through :meth:`_constrain`.
        """
        prompts = list(prompts)
        cons = per_prompt_constraints(len(prompts), constraints)
        if not prompts:
            return []
        outs = self._generate(prompts, params, cons)
        if len(outs) != len(prompts):
            raise BackendError(
                f"{self.name} returned {len(outs)} completions for {len(prompts)} prompts"
            )
        texts = [cut_at_stop(text, params.stop) for text in outs]
        return [
            text if c is None else self._constrain(text, c)
            for text, c in zip(texts, cons, strict=True)
        ]

    @abc.abstractmethod
    def _generate(
        self, prompts: list[str], params: GenerationParams, constraints: list[Constraint | None]
    ) -> list[str]:
        """The backend's own decoding: one completion per prompt, in order (at least one prompt).

        A completion may run past a stop string; :meth:`generate` cuts it.
        """

    def _constrain(self, text: str, constraint: Constraint) -> str:
        """What a constrained completion (already cut at the stops) goes through after decoding.

        Default: nothing, the backend kept to the constraint while decoding.
        """
        return text

    def logprobs(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Sum of log-probabilities of ``completions[i]`` given ``prompts[i]`` (natural log)."""
        if len(prompts) != len(completions):
            raise ValueError("prompts and completions must have the same length")
        return self._logprobs(list(prompts), list(completions))

    def _logprobs(self, prompts: list[str], completions: list[str]) -> list[float]:
        """The backend's own scoring (same lengths, checked); default: it cannot score."""
        raise BackendError(f"backend {self.name!r} cannot score completions")

    def chat_prompt(self, user_message: str, system: str | None = None) -> str:
        """Render one user turn with the model's chat template, ready for :meth:`generate`.

        Backends without a template return the message unchanged.
        """
        return user_message if system is None else f"{system}\n\n{user_message}"

    def close(self) -> None:  # noqa: B027 (optional hook, deliberately not abstract)
        """Release processes, sockets or memory held by the backend."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EnforcingBackend(Backend):
    """A backend that checks constrained completions after decoding with
    :meth:`Constraint.enforce <fewner.decoding.constraint.Constraint.enforce>`: its own steering
    (a grammar, a server, or none) cannot count repeats or may be ignored.

    The mentions dropped are counted in ``filtered_mentions`` and, per mention, ``filtered``.
    Subclasses call ``super().__init__()``.
    """

    def __init__(self) -> None:
        self.filtered_mentions = 0
        self.filtered: Counter[str] = Counter()

    def _constrain(self, text: str, constraint: Constraint) -> str:
        text, removed = constraint.enforce(text)
        self.filtered += removed
        self.filtered_mentions += sum(removed.values())
        return text


#: Every backend by name -> its factory ``(model, **options) -> Backend``. The modules are
#: imported only when their name is asked for, so naming ``hf`` is what imports torch.
BACKENDS: Registry[Callable[..., Backend]] = Registry(
    "backend",
    lazy={
        "hf": "fewner.backends.hf",
        "scripted": "fewner.backends.scripted",
        "cache": "fewner.backends.cache",
        "openai": "fewner.backends.openai_compat",
        "llamacpp": "fewner.backends.llamacpp",
    },
)
