"""``llamacpp``: llama-cpp-python on a GGUF file, fewner's fast CPU path.

Why this backend exists: on CPUs llama.cpp decodes small quantized models many times faster
than transformers, so inference-only methods (in-context ensembles, distillation teachers,
evaluation) run here; training stays on the ``hf`` backend (measurements: docs/design-notes.md,
fewner/backends/llamacpp.py).

Design notes
------------
* **Models**: a catalogue name (``smollm2-135m-instruct``; verified through
  :func:`fewner.models.gguf_path`) or a path to a ``.gguf`` file.
* **Sampling** is made *plain*: ``top_k=0``, ``min_p=0``, ``repeat_penalty=1`` are passed
  explicitly, because llama-cpp-python's defaults (top-k 40, min-p 0.05) would make
  ``temperature``/``top_p`` mean something else here than in the other backends.
  ``temperature == 0`` is llama.cpp's greedy sampler. ``params.seed`` is passed on every call, so
  a sampled completion does not depend on what was generated before it.
* **Constraints** are enforced while decoding (``supports_token_constraints = True``): the
  constraint's GBNF grammar (:meth:`Constraint.gbnf`) goes to llama.cpp's grammar sampler.
  ``LlamaGrammar`` only holds the text (llama.cpp parses it per request), so the cache here keeps
  one object per distinct grammar *after validating it once*: an invalid grammar makes llama.cpp
  return a NULL sampler, which would crash the process if handed to the sampler chain.
  Grammars cannot count, so the constraint's repeat limits are applied afterwards by
  :meth:`fewner.decoding.constraint.Constraint.enforce`; mentions it drops are counted in
  ``filtered_mentions`` / ``filtered``.
* **Log-probabilities** (:meth:`LlamaCppBackend.logprobs`) are computed by evaluating the prompt
  and then the completion tokens. With ``logits_all=True`` the whole sequence is evaluated in one
  pass and read from ``Llama.scores`` (costs ``n_ctx * n_vocab * 4`` bytes: ~100 MB for SmolLM2
  at n_ctx 512); with the default ``logits_all=False`` the completion is fed one token at a time
  and the logits of the last position are read after each step (one decode per completion
  token: fine for short NER answers, no extra memory). The completion is tokenised as
  llama.cpp tokenises ``prompt + completion`` when that keeps the prompt's tokens as a prefix,
  else on its own.
* **Shared prefixes**: llama-cpp-python reuses the KV cache of the longest common prefix with
  the *previous* call (``prefix_reuse=True``, the default), and ``prompt_cache_mb > 0`` adds a
  ``LlamaRAMCache`` that keeps the states of earlier prompts too, which pays off when a few long
  few-shot prefixes alternate. Reuse is on by default because a few-shot prompt then costs
  only its new suffix. The price: llama.cpp's logits differ slightly between evaluating a prompt
  in one batch and evaluating its suffix on top of a cached prefix (batch-size dependent
  kernels), so a greedy near-tie could in principle resolve differently depending on the
  previous prompt; pass ``prefix_reuse=False`` to evaluate every prompt from scratch when
  bit-exact order independence matters more than speed (measurements: docs/design-notes.md,
  fewner/backends/llamacpp.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fewner.backends.base import (
    BACKENDS,
    EnforcingBackend,
    GenerationParams,
    first_token_bias_ids,
)
from fewner.backends.limits import ContextLengthError, check_context
from fewner.errors import BackendError, ModelNotAvailableError

if TYPE_CHECKING:
    from fewner.decoding.constraint import Constraint



def resolve_gguf(model: str | Path) -> Path:
    """The GGUF file for ``model``: an existing file path, or a verified catalogue model."""
    path = Path(str(model)).expanduser()
    if path.is_file():
        return path.resolve()
    if path.is_dir():
        raise ModelNotAvailableError(
            f"{model} is a folder: the llamacpp backend runs a .gguf file or a catalogue model; "
            "for a transformers model folder use the hf backend (-b hf)"
        )
    if str(model).endswith(".gguf"):
        raise ModelNotAvailableError(f"GGUF file not found: {model}")
    from fewner.models import gguf_path

    return gguf_path(str(model))


def default_threads() -> int:
    """The thread count in force (:func:`fewner.backends.threads.threads`): ``--threads``,
    else ``$FEWNER_THREADS`` / ``$OMP_NUM_THREADS``, else half the usable cores (1..8).

    Why not all cores: llama.cpp's worker threads meet at a barrier after every op, so one
    descheduled thread stalls the rest; on a loaded shared machine that costs far more than the
    extra thread gains (measurements: docs/design-notes.md, fewner/backends/llamacpp.py).
    """
    from fewner.backends.threads import threads

    return threads()


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - float(np.max(logits))
    return shifted - np.log(np.exp(shifted).sum())


@BACKENDS.register("llamacpp")
class LlamaCppBackend(EnforcingBackend):
    """A GGUF model run in-process by llama-cpp-python.

    ``model``: catalogue name or GGUF path. ``n_ctx``: context length (prompt + answer).
    ``n_threads``: defaults to :func:`default_threads` (1 on a 2-core machine). ``n_batch``:
    prompt-evaluation batch. ``logits_all``: keep every position's logits, for one-pass
    :meth:`logprobs`. ``prefix_reuse`` / ``prompt_cache_mb``: KV reuse across prompts (see the
    module docstring). ``seed``: the context's default seed (each call passes
    ``params.seed`` anyway). ``verbose``: llama.cpp's own logging on stderr.

    After constrained calls, ``filtered_mentions`` / ``filtered`` count the mentions the
    post-filter dropped (repeats beyond their count in the input).
    """

    name = "llamacpp"
    supports_token_constraints = True

    def __init__(
        self,
        model: str | Path = "smollm2-135m-instruct",
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 256,
        logits_all: bool = False,
        prefix_reuse: bool = True,
        prompt_cache_mb: int = 0,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as err:  # pragma: no cover - depends on the install
            raise BackendError(
                "the llamacpp backend needs llama-cpp-python (./dev setup builds it)"
            ) from err
        super().__init__()
        self._llama_cpp = llama_cpp
        self.path = resolve_gguf(model)
        n_threads = n_threads or default_threads()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=n_batch,
                logits_all=logits_all,
                seed=seed,
                verbose=verbose,
            )
        except (ValueError, RuntimeError) as err:
            raise BackendError(f"llama.cpp could not load {self.path}: {err}") from err
        if prompt_cache_mb > 0:
            self._llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=prompt_cache_mb << 20))
        self.n_ctx = n_ctx
        self.prefix_reuse = prefix_reuse or prompt_cache_mb > 0
        self.logits_all = logits_all
        self._grammars: dict[str, Any] = {}
        # llama.cpp contexts are not thread-safe; one call at a time.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"llamacpp:{self.path.name}"

    # -- generation -----------------------------------------------------------------------

    def grammar(self, gbnf: str) -> Any:
        """A validated, cached ``LlamaGrammar`` for GBNF text; BackendError when it is invalid."""
        cached = self._grammars.get(gbnf)
        if cached is not None:
            return cached
        lc = self._llama_cpp
        sampler = lc.llama_sampler_init_grammar(
            self._llm._model.vocab, gbnf.encode("utf-8"), b"root"
        )
        if not sampler:
            raise BackendError(f"llama.cpp rejected the grammar (see stderr):\n{gbnf[:500]}")
        lc.llama_sampler_free(sampler)
        grammar = lc.LlamaGrammar.from_string(gbnf, verbose=False)
        self._grammars[gbnf] = grammar
        return grammar

    def _generate(
        self, prompts: list[str], params: GenerationParams, constraints: list[Constraint | None]
    ) -> list[str]:
        try:
            check_context(self, prompts, params.max_new_tokens)  # all of them, before any work
        except ContextLengthError as err:
            raise err.at(
                f"prompt {err.index + 1} of {len(prompts)}",
                f"pass a larger context (-O n_ctx=N; now {self.n_ctx}), a smaller "
                "max_new_tokens, or shorter input",
            ) from None
        return [
            self._complete(p, params, None if c is None else self.grammar(c.gbnf()))
            for p, c in zip(prompts, constraints, strict=True)
        ]

    def _complete(self, prompt: str, params: GenerationParams, grammar: Any) -> str:
        with self._lock:
            if not self.prefix_reuse:
                self._llm.reset()  # evaluate from scratch: the answer depends on this prompt only
            try:
                result = self._llm.create_completion(
                    prompt,
                    max_tokens=params.max_new_tokens,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    top_k=0,
                    min_p=0.0,
                    repeat_penalty=1.0,
                    seed=params.seed,
                    stop=list(params.stop) or None,
                    grammar=grammar,
                    logits_processor=self._first_token_bias(prompt, params),
                )
            except ValueError as err:  # e.g. prompt longer than the context
                hint = (
                    f"; pass a larger n_ctx (-O n_ctx=N, now {self.n_ctx}) or shorter input"
                    if "context" in str(err)
                    else ""
                )
                raise BackendError(f"llama.cpp: {err}{hint}") from err
        return result["choices"][0]["text"]  # type: ignore[index]

    def _first_token_bias(self, prompt: str, params: GenerationParams) -> Any:
        """``params.first_token_bias`` as a llama.cpp logits processor that acts at the first
        answer position only (the evaluated tokens are then exactly the prompt's), or None."""
        if not params.first_token_bias:
            return None
        import llama_cpp

        biases = first_token_bias_ids(
            params, lambda text: self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        )
        n_prompt = self.count_tokens(prompt)

        def bias(input_ids: Any, scores: Any) -> Any:
            if len(input_ids) == n_prompt:
                for token, value in biases.items():
                    scores[token] += value
            return scores

        return llama_cpp.LogitsProcessorList([bias])

    def count_tokens(self, prompt: str) -> int:
        """How many tokens ``prompt`` takes (as ``create_completion`` tokenizes it)."""
        return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def context_length(self) -> int:
        """The context window in tokens (``n_ctx``: prompt and answer together)."""
        return self.n_ctx

    # -- scoring --------------------------------------------------------------------------

    def _tokens(self, prompt: str, completion: str) -> tuple[list[int], list[int]]:
        llm = self._llm
        p_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        full = llm.tokenize((prompt + completion).encode("utf-8"), add_bos=True, special=True)
        if full[: len(p_tokens)] == p_tokens:
            return p_tokens, full[len(p_tokens) :]
        return p_tokens, llm.tokenize(completion.encode("utf-8"), add_bos=False, special=False)

    def _logprobs(self, prompts: list[str], completions: list[str]) -> list[float]:
        return [self._score(p, c) for p, c in zip(prompts, completions, strict=True)]

    def _score(self, prompt: str, completion: str) -> float:
        p_tokens, c_tokens = self._tokens(prompt, completion)
        if not c_tokens:
            return 0.0
        if len(p_tokens) + len(c_tokens) > self.n_ctx:
            raise BackendError(
                f"prompt + completion is {len(p_tokens) + len(c_tokens)} tokens, "
                f"more than n_ctx={self.n_ctx}"
            )
        llm = self._llm
        with self._lock:
            llm.reset()
            if self.logits_all:
                llm.eval(p_tokens + c_tokens[:-1])
                rows = llm.scores[len(p_tokens) - 1 : len(p_tokens) + len(c_tokens) - 1]
                return float(
                    sum(_log_softmax(row)[tok] for row, tok in zip(rows, c_tokens, strict=True))
                )
            total = 0.0
            llm.eval(p_tokens)
            for k, tok in enumerate(c_tokens):
                total += float(_log_softmax(self._last_logits())[tok])
                if k + 1 < len(c_tokens):
                    llm.eval([tok])
            return total

    def _last_logits(self) -> np.ndarray:
        """Logits of the last evaluated position (llama.cpp keeps only that row here)."""
        lc = self._llama_cpp
        n_vocab = self._llm.n_vocab()
        return np.ctypeslib.as_array(lc.llama_get_logits(self._llm.ctx), shape=(n_vocab,)).copy()

    # -- chat -----------------------------------------------------------------------------

    def chat_prompt(self, user_message: str, system: str | None = None) -> str:
        """Render with the GGUF's own chat template (``tokenizer.chat_template`` metadata).

        GGUFs without a template fall back to the plain base-class rendering.
        """
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return super().chat_prompt(user_message, system)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self._llm._model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            add_generation_prompt=True,
        )
        messages: list[dict[str, str]] = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user_message})
        prompt = formatter(messages=messages).prompt  # type: ignore[arg-type]
        # generate() adds BOS itself where the model asks for one: avoid a double BOS.
        bos_text = model.token_get_text(bos) if bos != -1 else ""
        if model.add_bos_token() and bos_text and prompt.startswith(bos_text):
            prompt = prompt[len(bos_text) :]
        return prompt

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None  # type: ignore[assignment]
