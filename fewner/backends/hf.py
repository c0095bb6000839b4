"""Hugging Face transformers backend (optionally with a peft LoRA adapter): the trainable one.

Choices that matter for correctness, and why:

* **Left padding, our own batching.** Prompts are tokenized once, sorted by length and batched
  (less padding, faster), padded on the left so every row's continuation starts at the same
  column, and the answers are returned in input order. ``generate`` derives position ids from
  the attention mask, so a padded row sees the same positions as it would alone; a test checks
  that greedy output is identical batched and one by one.
* **Sampling per row.** Sampling is done by :class:`~fewner.backends.hf_steps.RowSampler`, a logits processor with one
  ``torch.Generator`` per row, seeded from ``(params.seed, prompt)``; it leaves only the sampled
  token finite and ``generate`` then runs greedily. So a sampled answer depends on the seed and
  its prompt only, not on which prompts shared its batch or in what order: reproducible, and safe
  to cache per prompt (:mod:`fewner.backends.cache`).
* **Stops.** :class:`~fewner.backends.hf_steps.StopOnStrings` checks the decoded tail of each row after every step, so a
  row that wrote a stop string finishes early while the others go on; the text is then cut at
  the stop (by :meth:`~fewner.backends.base.Backend.generate`) since a stop may end inside a
  token. EOS (the tokenizer's and the generation config's) ends a row too.
* **Only new text** is returned: the decoded prompt+answer minus the decoded prompt, which keeps
  a leading space that decoding the answer tokens alone can lose with some tokenizers.
* **Shared prefixes** (``prefix_sharing=True``): prompts that share a long token prefix (one
  sentence, several entity types, the instruction last) are grouped
  (:func:`fewner.backends.prefix.group_by_prefix`); each batch first runs its groups' prefixes
  once, one row per group (left padded), copies each group's KV cache to the group's rows
  (``Cache.reorder_cache`` with repeated indices), then hands ``generate`` the full rows
  ``[left pad][prefix][middle pad][suffix]`` with that cache. The middle padding is masked and
  position ids come from the attention mask's cumulative sum, so every real token sits at the
  position it has in the plain path and attends to the same tokens: the computation is the
  plain one, split in two forward passes. Greedy outputs match the plain path up to float
  rounding (the prefix is multiplied in different matrix shapes; ~1e-6 relative in float32),
  exactly as batched vs one-by-one does; a near-tie can resolve differently, more often in
  bfloat16. Models with sliding-window attention count the window in cache slots, not
  positions, so middle padding would shift it: batches wider than the window go the plain way.
* **Answers fixed by their first token** (``first_step_answers=True``, greedy decoding with
  a substring constraint on every row): every prompt first gets one decoding step; a row whose
  first token leaves one possible answer (the template's "none" sentence starts with a token no
  mention answer starts with) is answered from the constraint's automaton
  (:meth:`~fewner.decoding.automaton.Matcher.forced_rest`) without decoding it token by token;
  the other rows go on from the same KV cache with the settled rows dropped from it. The text is
  the one greedy decoding writes; most questions of an extraction run are answered "none", so
  most rows never decode past one step.
* **logprobs** score a completion as the model would have generated it after the prompt: the
  prompt keeps its own tokenization, and the completion's tokens are those that follow the
  prompt's tokens in the tokenization of ``prompt + completion`` when that tokenization starts
  with the prompt's tokens; when it does not (a token merges across the boundary, e.g. a prompt
  ending in a space), the completion is tokenized on its own and appended.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteriaList,
)

from fewner.backends.base import BACKENDS, Backend, GenerationParams, first_token_bias_ids
from fewner.backends.hf_steps import FirstTokenBias, RowSampler, StopOnStrings, row_seed
from fewner.backends.limits import ContextLengthError
from fewner.backends.prefix import PrefixGroup, group_by_prefix, pack_groups
from fewner.errors import BackendError, ModelNotAvailableError
from fewner.models.adapters import adapter_load_error, check_adapter, check_adapter_fits
from fewner.models.hub import check_hub_model

if TYPE_CHECKING:
    from fewner.decoding.constraint import Constraint


def _file_digest(folder: Path) -> str:
    """Hash of an adapter's files, so a retrained adapter never hits stale cache entries."""
    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
        f = folder / name
        if f.is_file():
            h.update(name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


class HFBackend(Backend):
    """A causal LM from transformers; ``model`` is a catalogue name, a local folder or a hub id.

    ``adapter``: a folder saved by peft (LoRA); ``device``: "auto" (cuda when available),
    "cpu", "cuda", ...; ``dtype``: "auto" (float32 on CPU, bfloat16 on CUDA where supported) or a
    torch dtype name; ``batch_size``: prompts per forward pass; ``prefix_sharing``: compute a
    shared prompt prefix's KV cache once per group of prompts; ``first_step_answers``: answer
    constrained greedy rows whose first token fixes the answer after one step (both: module
    docstring).
    """

    name = "hf"
    supports_token_constraints = True

    def __init__(
        self,
        model: str,
        adapter: str | Path | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        prefix_sharing: bool = False,
        first_step_answers: bool = True,
    ) -> None:
        from fewner.models import hf_path

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            use_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
            torch_dtype = torch.bfloat16 if use_bf16 else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        path = hf_path(model)
        if not Path(path).is_dir():  # a Hub id: fail at once when it cannot be downloaded
            check_hub_model(path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except OSError as err:
            detail = " ".join(str(err).split())  # one line
            raise ModelNotAvailableError(
                f"cannot load the tokenizer of {model!r} from {path}: {detail}"
            ) from err
        model_id = f"hf:{model}"
        if torch_dtype != torch.float32:
            model_id += "@" + str(torch_dtype).removeprefix("torch.")
        folder = None if adapter is None else Path(adapter)
        if folder is not None:
            check_adapter(folder)  # a damaged folder fails now, in one line
            check_adapter_fits(folder, path, model)  # another base model: now, not at load
            model_id += f"+lora:{folder.name}@{_file_digest(folder)}"
        self._load_args = (path, torch_dtype, device, folder)
        self._init(None, tokenizer, model_id, batch_size, prefix_sharing, first_step_answers)

    @property
    def model(self) -> Any:
        """The model, loaded on first use: a fully cached job never pays for loading it."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        path, torch_dtype, device, adapter = self._load_args
        try:
            lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        except OSError as err:
            detail = " ".join(str(err).split())
            raise ModelNotAvailableError(f"cannot load model from {path}: {detail}") from err
        if adapter is not None:
            from peft import PeftModel

            try:
                lm = PeftModel.from_pretrained(lm, str(adapter))
            except RuntimeError as err:  # another base model: hundreds of "size mismatch" lines
                raise adapter_load_error(adapter, str(path), err) from None
            # serving only: fold B·A into the weights, so a step costs what the base model's does
            # (an unmerged rank-32 adapter on every projection adds extra matmuls per layer)
            lm = lm.merge_and_unload()
        self._read_eos(lm)
        return lm.to(device).eval()

    @classmethod
    def from_objects(
        cls,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        model_id: str,
        batch_size: int = 8,
        prefix_sharing: bool = False,
        first_step_answers: bool = True,
    ) -> HFBackend:
        """Wrap a model already in memory (tests, or a model being trained)."""
        backend = cls.__new__(cls)
        backend._init(model.eval(), tokenizer, model_id, batch_size, prefix_sharing, first_step_answers)
        backend._read_eos(model)
        return backend

    def _init(
        self,
        model: Any,
        tokenizer: PreTrainedTokenizerBase,
        model_id: str,
        batch_size: int,
        prefix_sharing: bool = False,
        first_step_answers: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        tokenizer.padding_side = "left"
        self._model = model
        self._context: int | None = None  # context_length(), read once
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.prefix_sharing = prefix_sharing
        self.first_step_answers = first_step_answers
        self.answered_at_first_step = 0  # rows answered from their first token (a counter)
        self._model_id = model_id
        self.eos_ids = [] if tokenizer.eos_token_id is None else [int(tokenizer.eos_token_id)]

    def _read_eos(self, model: Any) -> None:
        """Add the generation config's end tokens (chat models often end turns with their own)."""
        eos = set(self.eos_ids)
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        for e in gen_eos if isinstance(gen_eos, list) else [gen_eos]:
            if e is not None:
                eos.add(int(e))
        self.eos_ids = sorted(eos)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- tokenization -------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids of a prompt; a BOS already written in the text (chat templates) is not doubled."""
        bos = self.tokenizer.bos_token
        add = not (bos and text.startswith(bos))
        return list(self.tokenizer(text, add_special_tokens=add)["input_ids"])

    def count_tokens(self, prompt: str) -> int:
        """How many tokens ``prompt`` takes (as :meth:`_generate` encodes it)."""
        return len(self.encode(prompt)) or 1

    def context_length(self) -> int | None:
        """The model's context window in tokens (its config's ``max_position_embeddings``),
        read from the config file without loading the weights; None when it does not say."""
        if self._context is None:
            if self._model is not None:
                config = self._model.config
            else:
                from transformers import AutoConfig

                config = AutoConfig.from_pretrained(self._load_args[0])
            text = (
                config.get_text_config(decoder=True)
                if hasattr(config, "get_text_config")
                else config
            )
            positions = getattr(text, "max_position_embeddings", None)
            self._context = int(positions) if positions else 0
        return self._context or None

    def chat_prompt(self, user_message: str, system: str | None = None) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            return super().chat_prompt(user_message, system)
        messages = [{"role": "system", "content": system}] if system is not None else []
        messages.append({"role": "user", "content": user_message})
        return str(
            self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )

    def _left_pad(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.tensor([[pad] * (width - len(r)) + list(r) for r in rows], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
        return ids.to(self.device), mask.to(self.device)

    # -- generation ---------------------------------------------------------------------------

    def _generate(
        self, prompts: list[str], params: GenerationParams, constraints: list[Constraint | None]
    ) -> list[str]:
        for c in constraints:  # token steering needs the byte automaton of a substring Constraint
            if c is not None and not callable(getattr(c, "matcher", None)):
                raise BackendError(
                    f"the hf backend cannot enforce {type(c).__name__} while decoding; "
                    "use a grammar backend (llamacpp, openai) or turn the constraint off"
                )
        encoded = [self.encode(p) or [self._context_token()] for p in prompts]
        limit = self.context_length()
        for i, ids in enumerate(encoded):  # past the window the model runs on, into nonsense
            if limit is not None and len(ids) + params.max_new_tokens > limit:
                raise ContextLengthError(
                    i, len(ids), limit, params.max_new_tokens, self.model_id,
                    where=f"prompt {i + 1} of {len(prompts)}",
                )
        results: list[str] = [""] * len(prompts)
        if self.prefix_sharing:
            batches = self._shared_batches(encoded)
        else:
            order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
            batches = [
                [PrefixGroup((i,), 0) for i in order[k : k + self.batch_size]]
                for k in range(0, len(order), self.batch_size)
            ]
        for groups in batches:
            idx = [i for g in groups for i in g.rows]
            outs = self._generate_batch(
                [prompts[i] for i in idx],
                [encoded[i] for i in idx],
                params,
                [constraints[i] for i in idx],
                [g.prefix_len for g in groups for _ in g.rows],
            )
            for i, text in zip(idx, outs, strict=True):
                results[i] = text
        return results

    def _forced_answer(
        self, prompt_ids: list[int], ids: list[int], constraint: Constraint | None,
        params: GenerationParams,
    ) -> str | None:
        """The whole answer when the first generated token fixes it (module docstring), else None.

        ``ids`` is the first step's output cut at EOS: empty means the answer ended at once.
        """
        if not ids:
            return ""  # EOS first: the answer is empty, as generate() would return it
        if constraint is None:
            return None
        from fewner.decoding.vocab import TokenIndex

        pieces = TokenIndex.for_tokenizer(self.tokenizer).pieces
        token = ids[0]
        data = pieces[token] if token < len(pieces) else None
        matcher = constraint.matcher()
        if data is None or not matcher.feed(data):
            return None
        rest = matcher.forced_rest()
        if rest is None:
            return None
        tail = rest.decode("utf-8", errors="replace")
        if 1 + len(self.tokenizer(tail, add_special_tokens=False)["input_ids"]) > params.max_new_tokens:
            return None  # generate() would cut the answer short: let it
        return self._new_text(prompt_ids, ids) + tail

    def _shared_batches(self, encoded: list[list[int]]) -> list[list[PrefixGroup]]:
        """Batches of prefix groups; one-token prompts (nothing to share) go in plain batches."""
        groups = group_by_prefix(encoded, self.batch_size)
        shared = [g for g in groups if g.prefix_len > 0]
        alone = sorted(i for g in groups if g.prefix_len == 0 for i in g.rows)
        return pack_groups(shared, encoded, self.batch_size) + [
            [PrefixGroup((i,), 0) for i in alone[k : k + self.batch_size]]
            for k in range(0, len(alone), self.batch_size)
        ]

    def _context_token(self) -> int:
        """The token an empty prompt starts from (BOS, else EOS): a model needs one position."""
        tok = self.tokenizer.bos_token_id
        return int(
            tok
            if tok is not None
            else self.eos_ids[0]
            if self.eos_ids
            else self.tokenizer.pad_token_id
        )

    def _generate_batch(
        self,
        prompts: list[str],
        encoded: list[list[int]],
        params: GenerationParams,
        constraints: list[Constraint | None],
        prefix_lens: list[int] | None = None,
    ) -> list[str]:
        """Generate one batch; rows with ``prefix_lens[r] > 0`` reuse a shared prefix cache.

        Rows of one group are adjacent and share ``prefix_lens`` (see :meth:`_shared_batches`).
        With first-step answers, one step runs for every row, the rows it settles are answered,
        and the others go on from the same KV cache (only their rows of it kept).
        """
        cache = None
        if prefix_lens is not None and all(n > 0 for n in prefix_lens):
            ids, mask, cache = self._prefill_shared(encoded, prefix_lens, params.max_new_tokens)
        else:
            ids, mask = self._left_pad(encoded)
        width = ids.shape[1]
        texts: list[str] = [""] * len(encoded)
        rows = list(range(len(encoded)))
        budget = params.max_new_tokens
        if (
            self.first_step_answers
            and params.greedy
            and budget > 1
            and all(c is not None for c in constraints)
        ):
            out, cache = self._decode(ids, mask, cache, 1, params, prompts, constraints, width)
            rows = []
            for r in range(len(encoded)):
                text = self._forced_answer(encoded[r], self._until_eos(out[r, width:]), constraints[r], params)
                if text is None:
                    rows.append(r)
                else:
                    texts[r] = text
                    self.answered_at_first_step += 1
            if not rows:
                return texts
            keep = torch.tensor(rows, dtype=torch.long, device=ids.device)
            cache.reorder_cache(keep)
            ids = out[keep]
            mask = torch.cat([mask[keep], mask.new_ones((len(rows), 1))], dim=1)
            budget -= 1
        out, _ = self._decode(
            ids, mask, cache, budget, params, [prompts[r] for r in rows], [constraints[r] for r in rows], width
        )
        for k, r in enumerate(rows):
            texts[r] = self._new_text(encoded[r], self._until_eos(out[k, width:]))  # generate() cuts at the stops
        return texts

    def _decode(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        cache: Any,
        max_new_tokens: int,
        params: GenerationParams,
        prompts: list[str],
        constraints: list[Constraint | None],
        width: int,
    ) -> tuple[torch.Tensor, Any]:
        """One ``generate`` call; returns the sequences and the KV cache. ``width`` is where the
        answers start (ids may already hold their first tokens)."""
        processors = LogitsProcessorList()
        if params.first_token_bias and ids.shape[1] == width:  # this call makes the first step
            biases = first_token_bias_ids(
                params, lambda text: self.tokenizer(text, add_special_tokens=False)["input_ids"]
            )
            processors.append(FirstTokenBias(biases, width))
        if any(c is not None for c in constraints):
            processors.append(self._constraint_processor(constraints, width))
        if not params.greedy:
            seeds = [row_seed(params.seed, p) for p in prompts]
            processors.append(RowSampler(seeds, params.temperature, params.top_p))
        stopping = StoppingCriteriaList()
        if params.stop:
            stopping.append(StopOnStrings(self.tokenizer, params.stop, width))
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=int(self.tokenizer.pad_token_id),
            eos_token_id=self.eos_ids or None,
            return_dict_in_generate=True,
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                **{self._cache_keyword(): cache},
                generation_config=config,
                logits_processor=processors,
                stopping_criteria=stopping,
            )
        return out.sequences, getattr(out, self._cache_keyword())

    def _until_eos(self, new: torch.Tensor) -> list[int]:
        ids = new.tolist()
        for j, tok in enumerate(ids):
            if tok in self.eos_ids:
                return ids[:j]
        return ids

    def _prefill_shared(
        self, encoded: list[list[int]], prefix_lens: list[int], max_new_tokens: int
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """Run each group's prefix once; return full rows, their mask and the expanded cache.

        Rows come back as ``[left pad][prefix][middle pad][suffix]``; the cache holds the
        ``[left pad][prefix]`` part for every row (copied from its group's one row). With a
        sliding window narrower than the rows can grow, the plain rows and no cache.
        """
        from transformers import DynamicCache

        # a row starts a new group where its prefix differs from the row before (rows with
        # equal prefixes may share one, whichever group they came from)
        starts, group_of = [], []
        for r, (row, n) in enumerate(zip(encoded, prefix_lens, strict=True)):
            if r == 0 or row[:n] != encoded[r - 1][: prefix_lens[r - 1]]:
                starts.append(r)
            group_of.append(len(starts) - 1)
        prefixes = [encoded[s][: prefix_lens[s]] for s in starts]
        suffixes = [row[n:] for row, n in zip(encoded, prefix_lens, strict=True)]
        p_ids, p_mask = self._left_pad(prefixes)
        s_ids, s_mask = self._left_pad(suffixes)
        window = self._sliding_window()
        if window is not None and p_ids.shape[1] + s_ids.shape[1] + max_new_tokens > window:
            ids, mask = self._left_pad(encoded)  # middle padding would shift the window
            return ids, mask, None
        cache = DynamicCache(config=self.model.config)
        kwargs: dict[str, Any] = {}
        if self._takes_logits_to_keep():
            kwargs["logits_to_keep"] = 1  # only the cache is wanted, not the logits
        with torch.inference_mode():
            self.model(
                input_ids=p_ids,
                attention_mask=p_mask,
                position_ids=(p_mask.cumsum(-1) - 1).clamp(min=0),
                **{self._cache_keyword(): cache},
                use_cache=True,
                **kwargs,
            )
        rows = torch.tensor(group_of, dtype=torch.long, device=p_ids.device)
        cache.reorder_cache(rows)  # index_select: each row gets its group's keys and values
        ids = torch.cat([p_ids[rows], s_ids], dim=1)
        mask = torch.cat([p_mask[rows], s_mask], dim=1)
        return ids, mask, cache

    def _sliding_window(self) -> int | None:
        """The model's attention window in cache slots, when it has one."""
        config = self.model.config
        text = (
            config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
        )
        window = getattr(text, "sliding_window", None)
        return int(window) if window else None

    @functools.cached_property
    def _forward_parameters(self) -> Any:
        """The base model's forward parameters: read once, asked on every batch."""
        import inspect

        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return inspect.signature(base.forward).parameters

    def _takes_logits_to_keep(self) -> bool:
        return "logits_to_keep" in self._forward_parameters

    def _cache_keyword(self) -> str:
        """``cache`` (transformers >= 5.25 renamed the KV-cache argument and output; the old
        name warns and goes in 5.40) or ``past_key_values`` (earlier 5.x)."""
        return "cache" if "cache" in self._forward_parameters else "past_key_values"

    def _new_text(self, prompt_ids: list[int], new_ids: list[int]) -> str:
        decode = self.tokenizer.decode
        head = decode(prompt_ids, skip_special_tokens=True)
        full = decode(prompt_ids + new_ids, skip_special_tokens=True)
        return (
            full[len(head) :]
            if full.startswith(head)
            else decode(new_ids, skip_special_tokens=True)
        )

    def _constraint_processor(
        self, constraints: list[Constraint | None], prompt_len: int
    ) -> LogitsProcessor:
        try:
            from fewner.decoding.hf import SubstringLogitsProcessor
        except ImportError as err:
            raise BackendError(f"token constraints need fewner.decoding.hf: {err}") from err
        # before the sampler: it samples among the tokens this processor leaves finite
        return SubstringLogitsProcessor(
            constraints, self.tokenizer, eos_token_id=self.eos_ids, prompt_length=prompt_len
        )

    # -- scoring ------------------------------------------------------------------------------

    def completion_ids(self, prompt: str, completion: str) -> tuple[list[int], list[int]]:
        """(prompt tokens, completion tokens) as scored by :meth:`logprobs` (module docstring)."""
        p = self.encode(prompt) or [self._context_token()]
        if not completion:
            return p, []
        full = self.encode(prompt + completion) if prompt else []
        if prompt and len(full) > len(p) and full[: len(p)] == p:
            return p, full[len(p) :]
        return p, list(self.tokenizer(completion, add_special_tokens=False)["input_ids"])

    def _logprobs(self, prompts: list[str], completions: list[str]) -> list[float]:
        pairs = [self.completion_ids(p, c) for p, c in zip(prompts, completions, strict=True)]
        scores = [0.0] * len(pairs)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        for start in range(0, len(order), self.batch_size):
            idx = [i for i in order[start : start + self.batch_size] if pairs[i][1]]
            if not idx:
                continue
            ids, mask = self._left_pad([pairs[i][0] + pairs[i][1] for i in idx])
            position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
            last = max(len(pairs[i][1]) for i in idx)  # only completion positions are scored
            with torch.inference_mode():
                logits = self.model(
                    input_ids=ids, attention_mask=mask, position_ids=position_ids
                ).logits
            logp = torch.log_softmax(logits[:, -last - 1 : -1].float(), dim=-1)
            token_lp = logp.gather(-1, ids[:, -last:].unsqueeze(-1)).squeeze(-1)
            for row, i in enumerate(idx):
                n = len(pairs[i][1])
                scores[i] = float(token_lp[row, -n:].sum())
        return scores

    def close(self) -> None:
        self._model = None  # let the weights be freed (a later call loads them again)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


@BACKENDS.register("hf")
def make_hf(
    model: str,
    adapter: str | Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 8,
    prefix_sharing: bool = False,
    first_step_answers: bool = True,
) -> HFBackend:
    """Registry entry, with :class:`HFBackend`'s options spelt out so that a misspelt one is
    refused naming the ones it takes (:func:`fewner.backends.factory.make_backend`)."""
    return HFBackend(
        model, adapter=adapter, device=device, dtype=dtype, batch_size=batch_size,
        prefix_sharing=prefix_sharing, first_step_answers=first_step_answers,
    )
