"""The one interface through which every fewner method talks to a language model.

A backend turns raw prompt strings into completions. Chat formatting is the caller's job
(:meth:`Backend.chat_prompt` helps where the backend knows a chat template), so the same prompt
string means the same thing to every backend and to the cache.

Backends are registered by name (:data:`BACKENDS`) so configs and the CLI can pick one, and
the shared contract tests in ``tests/contract`` run against every registered backend.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported for annotations only: keeps this module light
    from fewner.decoding.constraint import Constraint


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings. ``temperature == 0`` means greedy decoding.

    ``stop``: generation ends at the first occurrence of any of these strings, which is not
    included in the returned text. ``seed`` makes sampling reproducible where the backend
    allows it.
    """

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not (0 < self.top_p <= 1):
            raise ValueError("top_p must be in (0, 1]")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """A stable hash of the settings, used in cache keys."""
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
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


class Backend(abc.ABC):
    """A language model that completes prompts.

    Subclasses set ``name`` (the registry name) and implement :meth:`generate`; ``model_id``
    identifies the model (and adapter) for cache keys. ``supports_token_constraints`` says
    whether constraints are enforced while decoding (True) or by another mechanism: a grammar
    or regex the server applies, or filtering after generation (see
    :mod:`fewner.decoding.constraint`).
    """

    name: str = "abstract"
    supports_token_constraints: bool = False

    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """Identity of the model (and adapter) behind this backend, for cache keys and logs."""

    @abc.abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams = DEFAULT_PARAMS,
        constraints: Sequence[Constraint | None] | None = None,
    ) -> list[str]:
        """Complete each prompt; ``constraints[i]`` (if given) restricts completion ``i``."""

    def logprobs(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Sum of log-probabilities of ``completions[i]`` given ``prompts[i]`` (natural log)."""
        from fewner.errors import BackendError

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


BACKENDS: dict[str, Callable[..., Backend]] = {}


def register_backend(name: str) -> Callable[[Callable[..., Backend]], Callable[..., Backend]]:
    """Class decorator adding a backend factory to :data:`BACKENDS` under ``name``."""

    def decorate(factory: Callable[..., Backend]) -> Callable[..., Backend]:
        if name in BACKENDS:
            raise ValueError(f"backend {name!r} registered twice")
        BACKENDS[name] = factory
        return factory

    return decorate
