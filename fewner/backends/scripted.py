"""A backend with canned answers, for tests and dry runs of whole pipelines.

It never loads a model, so pipeline tests (prompting, parsing, caching, voting) run in
milliseconds and fail only for their own reasons. It records every call so tests can count
them (the cache's resume test relies on that).

Approximations, documented because tests of other components lean on them:

* **tokens** are whitespace-delimited pieces together with the spaces that follow them
  (``"a b  c"`` is three tokens: ``"a "``, ``"b  "``, ``"c"``); ``max_new_tokens`` keeps the first
  that many. Real backends count subword tokens, so they stop earlier than this one does.
* **stop strings** cut the answer at the first occurrence, as every backend does
  (:meth:`fewner.backends.base.Backend.generate`), after the token limit is applied.
* **constraints** cannot steer a canned answer token by token (``supports_token_constraints``
  is False); the answer is passed through ``Constraint.filter`` after generation instead (what
  it removed is dropped, as a backend without token constraints has nowhere to report it).
* **sampling** parameters are ignored: the answer is the same for every temperature and seed.
* **logprobs** are a toy score: ``-0.1`` per character, with a penalty of ``5`` when the
  completion is not a prefix of the canned answer. It is finite, never positive, decreases as a
  completion grows, and prefers the canned answer, which is all a test of a caller can ask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fewner.backends.base import BACKENDS, Backend, GenerationParams, refuse_first_token_bias
from fewner.errors import BackendError

if TYPE_CHECKING:
    from fewner.decoding.constraint import Constraint


Answers = Mapping[str, str] | Sequence[str] | Callable[[str], str]

_TOKEN = re.compile(r"\s*\S+\s*|\s+")


def truncate_tokens(text: str, max_new_tokens: int) -> str:
    """Keep the first ``max_new_tokens`` whitespace-delimited tokens of ``text`` (see module doc)."""
    pieces = _TOKEN.findall(text)
    return "".join(pieces[:max_new_tokens])


@dataclass
class Call:
    """One recorded ``generate`` or ``logprobs`` call."""

    method: str
    prompts: list[str]
    params: GenerationParams | None = None
    completions: list[str] = field(default_factory=list)


class ScriptedBackend(Backend):
    """Answers prompts from a script.

    ``answers`` is one of:

    * a mapping prompt -> answer (prompts not in it get ``default``, or raise when ``default`` is
      None, which catches tests that send unexpected prompts);
    * a sequence, consumed in order across calls (raises when exhausted);
    * a callable prompt -> answer.

    ``model`` names the script; it becomes part of :attr:`model_id` so two scripts never share
    cache entries.
    """

    name = "scripted"
    supports_token_constraints = False

    def __init__(
        self,
        answers: Answers | None = None,
        default: str | None = "",
        model: str = "script",
    ) -> None:
        self._answers: Answers = answers if answers is not None else {}
        self._default = default
        self._model = model
        self._position = 0
        self.calls: list[Call] = []

    @property
    def model_id(self) -> str:
        return f"scripted:{self._model}"

    @property
    def generated_prompts(self) -> list[str]:
        """Every prompt sent to :meth:`generate`, in order, across calls."""
        return [p for c in self.calls if c.method == "generate" for p in c.prompts]

    def _answer(self, prompt: str) -> str:
        answers = self._answers
        if callable(answers):
            return answers(prompt)
        if isinstance(answers, Mapping):
            if prompt in answers:
                return answers[prompt]
            if self._default is None:
                raise BackendError(f"scripted backend has no answer for prompt {prompt[:60]!r}")
            return self._default
        if self._position >= len(answers):
            raise BackendError(f"scripted backend ran out of answers after {self._position}")
        answer = answers[self._position]
        self._position += 1
        return answer

    def _generate(
        self, prompts: list[str], params: GenerationParams, constraints: list[Constraint | None]
    ) -> list[str]:
        self.calls.append(Call("generate", prompts, params))
        refuse_first_token_bias(self.name, params)  # scripted answers have no logits to shift
        return [truncate_tokens(self._answer(p), params.max_new_tokens) for p in prompts]

    def _constrain(self, text: str, constraint: Constraint) -> str:
        text, _removed = constraint.filter(text)  # nowhere to report what was removed
        return text

    def _logprobs(self, prompts: list[str], completions: list[str]) -> list[float]:
        self.calls.append(Call("logprobs", prompts, None, completions))
        scores = []
        for prompt, completion in zip(prompts, completions, strict=True):
            answers = self._answers
            # Peek without consuming a sequence script.
            if isinstance(answers, Mapping):
                target = answers.get(prompt, self._default or "")
            elif callable(answers):
                target = answers(prompt)
            else:
                target = ""
            penalty = 0.0 if target.startswith(completion) else 5.0
            scores.append(-0.1 * len(completion) - penalty)
        return scores


@BACKENDS.register("scripted")
def make_scripted(model: str = "script", **options: object) -> ScriptedBackend:
    """Registry entry: ``model`` names the script; ``answers`` and ``default`` pass through."""
    return ScriptedBackend(model=model, **options)  # type: ignore[arg-type]
