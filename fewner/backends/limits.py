"""The context window, checked before any prompt is generated, never hit silently.

A prompt plus its answer budget (``max_new_tokens``) must fit the model's context window.
Past it, transformers runs on with positions it never saw (minutes of work, empty answers) and
llama.cpp stops with a message naming neither the input nor a fix. Backends that know their
window implement ``context_length()`` and ``count_tokens(prompt)`` (``hf``, ``llamacpp``);
:func:`check_context` asks the innermost backend (through a cache's ``inner``) and raises
:class:`ContextLengthError` for the first prompt that does not fit, before any is generated.
Callers that know where a prompt came from (:class:`fewner.predict.Extractor`) re-raise it
naming the file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fewner.errors import BackendError

__all__ = ["ContextLengthError", "check_context", "context_backend"]

_SPECIAL = 4  # BOS and the like, added by a tokenizer beyond the text's own tokens


class ContextLengthError(BackendError):
    """Prompt ``index`` is ``tokens`` long; with ``max_new_tokens`` it exceeds ``limit``."""

    def __init__(
        self,
        index: int,
        tokens: int,
        limit: int,
        max_new_tokens: int,
        model: str,
        *,
        where: str = "a prompt",
        fix: str = "shorten the input or use a model with a longer context",
    ) -> None:
        self.index = index
        self.tokens = tokens
        self.limit = limit
        self.max_new_tokens = max_new_tokens
        self.model = model
        super().__init__(
            f"{where} is {tokens} tokens; with max_new_tokens={max_new_tokens} for the answer "
            f"it exceeds the context window of {model} ({limit} tokens): {fix}"
        )

    def at(self, where: str, fix: str, index: int | None = None) -> ContextLengthError:
        """The same error, saying where the prompt came from and what to do."""
        return ContextLengthError(
            self.index if index is None else index, self.tokens, self.limit,
            self.max_new_tokens, self.model, where=where, fix=fix,
        )


def context_backend(backend: Any) -> Any | None:
    """The backend (``backend`` or one it wraps) that can measure prompts, else None."""
    current = backend
    while current is not None:
        if callable(getattr(current, "context_length", None)) and callable(
            getattr(current, "count_tokens", None)
        ):
            return current
        current = getattr(current, "inner", None)
    return None


def check_context(backend: Any, prompts: Sequence[str], max_new_tokens: int) -> None:
    """Raise :class:`ContextLengthError` for the first of ``prompts`` that cannot fit, with
    ``max_new_tokens`` of answer, in ``backend``'s context window (nothing when the backend
    cannot tell). Prompts are measured longest first, and only those whose length in bytes
    could matter: a prompt of ``limit - max_new_tokens`` bytes (less the few special tokens a
    tokenizer adds) cannot take more tokens than that."""
    measured = context_backend(backend)
    if measured is None:
        return
    limit = measured.context_length()
    if limit is None:
        return
    room = int(limit) - max_new_tokens
    model = getattr(measured, "model_id", type(measured).__name__)
    sizes = [len(p.encode("utf-8")) for p in prompts]
    for index in sorted(range(len(prompts)), key=lambda i: -sizes[i]):
        if sizes[index] + _SPECIAL <= room:  # a token holds at least one byte: all fit
            break
        tokens = measured.count_tokens(prompts[index])
        if tokens > room:
            raise ContextLengthError(index, tokens, int(limit), max_new_tokens, model)
