"""Token-level enforcement with tiny in-memory tokenizers and a tiny random Llama."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

from fewner.decoding import AnswerGrammar, Constraint, TokenIndex, token_bytes  # noqa: E402
from fewner.decoding.automaton import Matcher  # noqa: E402
from fewner.decoding.hf import SubstringLogitsProcessor  # noqa: E402
from fewner.decoding.vocab import _decoder_kind  # noqa: E402
from fewner.types import Sentence  # noqa: E402
from tests.tiny_models import byte_level_bpe, fast_tokenizer, random_llama  # noqa: E402

G = AnswerGrammar()
CORPUS = [
    "The soldier was killed in Sonmarg , said a New York-based spokesman .",
    "Visit São Paulo and Zürich , the naïve tourist said 😀 in 2021-2022 .",
    G.render(["Sonmarg", "New York-based spokesman"]),
    G.render(["São Paulo"]),
    G.none or "",
]
SENTS = [Sentence.from_words(t.split(), id=str(i)) for i, t in enumerate(CORPUS[:2])]


@pytest.fixture(scope="module")
def byte_tok() -> PreTrainedTokenizerFast:
    fast = fast_tokenizer(byte_level_bpe(CORPUS * 3, 420, ["</s>", "<pad>"]), bos=None)
    fast.padding_side = "left"
    return fast


@pytest.fixture(scope="module")
def meta_tok() -> PreTrainedTokenizerFast:
    """A SentencePiece-style vocabulary: ``▁`` for spaces, ``<0xNN>`` byte fallback."""
    vocab = {"</s>": 0}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in ["▁", "a", "b", "c", "▁a", "▁b", "ab", "▁ab", "▁c", "-", "Z", "ü", "▁Z", "rich"]:
        vocab.setdefault(piece, len(vocab))
    merges = [("▁", "a"), ("▁", "b"), ("a", "b"), ("▁a", "b"), ("▁", "c"), ("▁", "Z")]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>")


# ----- token bytes ---------------------------------------------------------------------------

ROUNDTRIP = ["Zürich São Paulo naïve 😀 2-3 (x) «q» 東京", " leading  spaces\tand\nlines", "ab-c"]


def test_byte_level_bytes_roundtrip(byte_tok) -> None:
    assert _decoder_kind(byte_tok) == "byte_level"
    pieces = token_bytes(byte_tok)
    assert pieces[byte_tok.eos_token_id] is None and pieces[byte_tok.pad_token_id] is None
    for text in ROUNDTRIP + CORPUS:
        ids = byte_tok.encode(text, add_special_tokens=False)
        assert b"".join(pieces[i] for i in ids) == text.encode()
    assert any(p is not None and not _valid_utf8(p) for p in pieces)  # partial characters kept


def test_metaspace_bytes_roundtrip(meta_tok) -> None:
    assert _decoder_kind(meta_tok) == "metaspace"
    pieces = token_bytes(meta_tok)
    for text in ["ab c Zürich", "a-b 😀", "cab ab"]:
        ids = meta_tok.encode(text, add_special_tokens=False)
        assert b"".join(pieces[i] for i in ids) == (" " + text).encode()  # ▁ prepended


class _DecodeOnly:
    """A tokenizer without a fast backend: bytes come from decoding each id alone."""

    all_special_ids = [0]
    table = {0: "</s>", 1: "a", 2: " b", 3: "\ufffd"}

    def __len__(self) -> int:
        return len(self.table)

    def convert_ids_to_tokens(self, ids):
        return [f"t{i}" for i in ids]

    def decode(self, ids):
        return "".join(self.table[i] for i in ids)


def test_decode_fallback_excludes_partial_characters() -> None:
    assert _decoder_kind(_DecodeOnly()) == "decode"
    assert token_bytes(_DecodeOnly()) == [None, b"a", b" b", None]


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


# ----- the index against brute force ---------------------------------------------------------


def _brute_allowed(index: TokenIndex, m: Matcher) -> set[int]:
    """Tokens a copy of ``m`` accepts, without running past the end of a close marker."""
    ok = set()
    for tid, data in enumerate(index.pieces):
        if data is None:
            continue
        twin, good = m.copy(), True
        for k, b in enumerate(data):
            if not twin.feed(bytes((b,))) or (k < len(data) - 1 and twin.dfa.closed[twin.state]):
                good = False
                break
        if good:
            ok.add(tid)
    return ok


@pytest.mark.parametrize("which", ["byte_tok", "meta_tok"])
def test_allowed_equals_brute_force(which: str, request) -> None:
    tok = request.getfixturevalue(which)
    index = TokenIndex(token_bytes(tok))
    con = Constraint.for_sentence(SENTS[1])
    answer = G.render(["São Paulo", "Zürich", "2021-2022"])
    ids = tok.encode(answer, add_special_tokens=False)
    if index.pieces[ids[0]] == b" ":  # SentencePiece prepends "▁" to a text of its own
        ids = ids[1:]
    m = con.matcher()
    for tid in ids:
        assert set(index.allowed(m.dfa, m.state)) == _brute_allowed(index, m)
        assert tid in index.allowed(m.dfa, m.state)
        assert m.feed(index.pieces[tid])
    assert m.accepting


def test_for_tokenizer_is_cached(byte_tok) -> None:
    assert TokenIndex.for_tokenizer(byte_tok) is TokenIndex.for_tokenizer(byte_tok)


@pytest.mark.parametrize("seed", range(4))
def test_random_walks_only_produce_substrings(byte_tok, seed: int) -> None:
    """Pick random allowed tokens until EOS: the result is always a valid, accepted answer."""
    rng = random.Random(seed)
    index = TokenIndex.for_tokenizer(byte_tok)
    for sent in SENTS:
        con = Constraint.for_sentence(sent)
        for _ in range(15):
            m, out = con.matcher(), bytearray()
            while True:
                options = index.allowed(m.dfa, m.state) + (["EOS"] * 3 if m.accepting else [])
                assert options, out
                pick = rng.choice(options)
                if pick == "EOS":
                    break
                out += index.pieces[pick]
                assert m.feed(index.pieces[pick])
            text = out.decode()
            assert con.accepts(text)
            for mention in G.mentions_in(text):
                assert mention in sent.text and mention in con.candidates
                assert G.mentions_in(text).count(mention) <= con.candidates.count(mention)


# ----- the logits processor --------------------------------------------------------------------


def test_processor_masks_rows_and_forces_valid_greedy_paths(byte_tok) -> None:
    """Adversarial scores (forbidden tokens scored highest) still yield accepted answers."""
    gen = torch.Generator().manual_seed(0)
    cons = [Constraint.for_sentence(SENTS[0]), None, Constraint.for_sentence(SENTS[1])]
    eos = byte_tok.eos_token_id
    proc = SubstringLogitsProcessor(cons, byte_tok)
    vocab = len(byte_tok) + 5  # models often pad the embedding matrix
    ids = torch.full((3, 4), byte_tok.pad_token_id, dtype=torch.long)
    ids[:, 2:] = 7  # left-padded prompts
    finished = [False] * 3
    for _ in range(200):
        scores = torch.randn(3, vocab, generator=gen)
        scores[:, 30:60] += 10  # pushes forbidden tokens
        scores[:, eos] -= 1
        out = proc(ids, scores.clone())
        assert torch.equal(out[1], scores[1])  # the unconstrained row is untouched
        for r in (0, 2):  # padded vocabulary entries are never allowed while a row runs
            assert finished[r] or torch.isinf(out[r, len(byte_tok) :]).all()
        nxt = out.argmax(-1)
        for r in range(3):
            if finished[r]:
                nxt[r] = byte_tok.pad_token_id
            elif nxt[r].item() == eos:
                finished[r] = True
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        if finished[0] and finished[2]:
            break
    assert finished[0] and finished[2] and proc.violations == 0
    for r in (0, 2):
        gen_ids = ids[r, 4:].tolist()
        text = byte_tok.decode(gen_ids[: gen_ids.index(eos)])
        assert cons[r].accepts(text), text
        assert proc.mentions[r] == G.mentions_in(text)
    assert proc.seconds > 0


def test_processor_rebuilds_rows_after_reordering(byte_tok) -> None:
    """Beam search swaps rows: each row's state follows its own ids, not its index."""
    con = Constraint.for_sentence(SENTS[0])
    proc = SubstringLogitsProcessor([con], byte_tok, prompt_length=1)
    index = proc.index
    a = byte_tok.encode(G.render(["Sonmarg"]), add_special_tokens=False)
    b = byte_tok.encode(G.none or "", add_special_tokens=False)
    n = min(len(a), len(b)) - 1
    scores = torch.zeros(2, len(byte_tok))
    proc(torch.tensor([[5] + a[:n], [5] + b[:n]]), scores)
    out = proc(torch.tensor([[5] + b[: n + 1], [5] + a[: n + 1]]), scores)  # swapped
    for r, seq in enumerate((b, a)):
        m = con.matcher()
        m.feed(b"".join(index.pieces[t] for t in seq[: n + 1]))
        assert set(torch.isfinite(out[r]).nonzero().flatten().tolist()) == set(
            index.allowed(m.dfa, m.state)
        ) | ({byte_tok.eos_token_id} if m.accepting else set())
    assert proc.violations == 0


def test_processor_counts_violations_and_forces_eos(byte_tok) -> None:
    con = Constraint.for_sentence(SENTS[0])
    proc = SubstringLogitsProcessor([con], byte_tok, prompt_length=1)
    bad = byte_tok.encode("Hello", add_special_tokens=False)[0]
    out = proc(torch.tensor([[5, bad]]), torch.zeros(1, len(byte_tok)))
    assert proc.violations == 1
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [byte_tok.eos_token_id]


def test_processor_argument_checks(byte_tok) -> None:
    with pytest.raises(ValueError):
        SubstringLogitsProcessor([None])
    proc = SubstringLogitsProcessor([None, None], byte_tok)
    with pytest.raises(ValueError):
        proc(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, len(byte_tok)))


class _FavourEos:
    """Raise EOS so a random model ends as soon as the constraint allows it."""

    def __init__(self, eos: int, bonus: float) -> None:
        self.eos, self.bonus = eos, bonus

    def __call__(self, input_ids, scores):
        scores[:, self.eos] += self.bonus
        return scores


@pytest.fixture(scope="module")
def tiny_model(byte_tok):
    return random_llama(byte_tok, seed=0, max_position_embeddings=512).eval()  # no bos token


@pytest.mark.parametrize(
    "mode",
    [
        {"do_sample": False},
        {"do_sample": True, "num_return_sequences": 2, "temperature": 1.5},
        {"do_sample": False, "num_beams": 2, "num_return_sequences": 2},
    ],
    ids=["greedy", "sample", "beam"],
)
def test_generate_with_tiny_llama(byte_tok, tiny_model, mode) -> None:
    from transformers import LogitsProcessorList

    prompts = ["Sentence: " + s.text + "\nAnswer:" for s in SENTS] + ["Free text:"]
    cons = [Constraint.for_sentence(s) for s in SENTS] + [None]
    enc = byte_tok(prompts, return_tensors="pt", padding=True)
    proc = SubstringLogitsProcessor(cons, byte_tok)
    torch.manual_seed(1)
    out = tiny_model.generate(
        **enc,
        max_new_tokens=120,
        logits_processor=LogitsProcessorList([_FavourEos(byte_tok.eos_token_id, 4.0), proc]),
        **mode,
    )
    k = mode.get("num_return_sequences", 1)
    texts: list[str] = []
    width = enc.input_ids.shape[1]
    for r in range(out.shape[0]):
        con = cons[r // k]
        if con is None:
            continue
        text = byte_tok.decode(out[r, width:], skip_special_tokens=True)
        assert con.accepts(text), text
        texts.append(text)
    assert len(texts) == len(SENTS) * k and proc.violations == 0
