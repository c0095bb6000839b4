"""Demonstration retrieval: span-level ranking, sentence kNN, random draws, query candidates."""

from __future__ import annotations

import pytest

from fewner.errors import ConfigError
from fewner.icl.candidates import query_candidates
from fewner.icl.retrieval import RETRIEVERS, Retriever, SpanRetriever, make_retriever
from tests.unit.icl_fakes import WordEncoder, sent

# Query: shares its *wording* with pool[0] and its *entity* with pool[1].
QUERY = sent("Barack Obama visited the big red factory today", id="q")
POOL = [
    sent("the big red factory today hosted Angela Merkel", [(6, 8, "PER")], id="p0"),
    sent("Obama spoke", [(0, 1, "PER")], id="p1"),
    sent("Rain fell on Tuesday", id="p2"),
]


def _fit(name: str, pool=POOL, **kw):
    return make_retriever(name, encoder=WordEncoder(4096), **kw).fit(pool)


def test_span_retrieval_ranks_by_entity_similarity_where_sentence_knn_ranks_by_wording():
    assert _fit("span").retrieve(QUERY, 2)[0] == 1  # "Barack Obama" ~ "Obama"
    assert _fit("sentence").retrieve(QUERY, 2)[0] == 0  # five shared words


def test_span_similarity_is_mean_of_best_match_per_query_candidate():
    retriever = _fit("span")
    query = sent("Obama met Merkel", id="q2")
    assert retriever.query_span_texts(query) == ["Obama", "Merkel"]
    scores = retriever.scores([query])[0]
    enc = retriever.encoder
    obama, merkel, angela = enc.encode(["Obama", "Merkel", "Angela Merkel"])
    expected_p0 = (float(obama @ angela) + float(merkel @ angela)) / 2
    assert scores[0] == pytest.approx(expected_p0)
    assert scores[1] == pytest.approx((1.0 + float(merkel @ enc.encode(["Obama"])[0])) / 2)
    assert scores[2] == pytest.approx(0.0, abs=1e-6)  # no shared word at all


def test_pool_sentence_without_spans_is_represented_by_its_text():
    retriever = _fit("span")
    assert retriever.pool_span_texts(POOL[2]) == ["Rain fell on Tuesday"]
    assert retriever.pool_span_texts(POOL[0]) == ["Angela Merkel"]


def test_ties_break_by_pool_order_and_k_beyond_pool_returns_all():
    pool = [sent("same words here", id=f"p{i}") for i in range(3)]
    ranked = _fit("sentence", pool).retrieve(sent("same words here", id="q"), 10)
    assert ranked == [0, 1, 2]


def test_random_retrieval_is_seeded_per_query():
    pool = [sent(f"sentence number {i}", id=f"p{i}") for i in range(12)]
    a = make_retriever("random", seed=0).fit(pool)
    b = make_retriever("random", seed=0).fit(pool)
    c = make_retriever("random", seed=1).fit(pool)
    q1, q2 = sent("one query", id="q1"), sent("another query", id="q2")
    assert a.retrieve(q1, 4) == b.retrieve(q1, 4)
    per_query = {tuple(a.retrieve(sent(f"query {i}", id=f"q{i}"), 4)) for i in range(5)}
    assert len(per_query) > 1  # each query gets its own draw
    per_seed = {tuple(make_retriever("random", seed=s).fit(pool).retrieve(q1, 4)) for s in range(5)}
    assert len(per_seed) > 1  # the seed matters
    assert c.retrieve(q2, 4) == make_retriever("random", seed=1).fit(pool).retrieve(q2, 4)


@pytest.mark.parametrize("name", sorted(RETRIEVERS))
def test_every_retriever_returns_k_distinct_pool_indices_deterministically(name):
    pool = [*POOL, sent("Paris is in France", [(0, 1, "LOC"), (3, 4, "LOC")], id="p3")]
    retriever = make_retriever(name, encoder=WordEncoder(256), seed=3).fit(pool)
    queries = [QUERY, sent("nothing capitalised here at all", id="q3")]
    first = retriever.retrieve_many(queries, 3)
    assert first == retriever.retrieve_many(queries, 3)
    for ranked in first:
        assert len(ranked) == 3 and len(set(ranked)) == 3
        assert all(0 <= i < len(pool) for i in ranked)
    assert retriever.settings()["method"] == name


def test_fixed_retrieval_gives_every_query_the_same_pool_richest_last_so_prompts_share_their_prefix():
    from fewner.icl.prompts import IclPrompter

    pool = [*POOL, sent("Paris is in France", [(0, 1, "LOC"), (3, 4, "LOC")], id="p3")]
    retriever = make_retriever("fixed").fit(pool)
    queries = [QUERY, sent("Rain again", id="q2"), sent("Merkel in Paris", id="q3")]
    # most mentions first (written last, nearest the query); ties in pool order
    assert retriever.retrieve_many(queries, 2) == [[3, 0]] * 3
    assert retriever.retrieve_many(queries, 99) == [[3, 0, 1, 2]] * 3  # k beyond the pool: all
    prompter = IclPrompter(("PER", "LOC"))
    contexts = [prompter.context([pool[i] for i in reversed(idx)], q)
                for idx, q in zip(retriever.retrieve_many(queries, 99), queries, strict=True)]
    shared = prompter.header() + "".join(prompter.demonstration(pool[i]) for i in (2, 1, 0, 3))
    assert all(c == f"{shared}Sentence: {q.text}\n" for c, q in zip(contexts, queries, strict=True))


def test_make_retriever_errors():
    with pytest.raises(ConfigError, match="unknown retrieval"):
        make_retriever("bm25")
    with pytest.raises(ConfigError, match="needs an encoder"):
        make_retriever("span")
    with pytest.raises(ConfigError, match="empty"):
        make_retriever("random").fit([])
    with pytest.raises(ConfigError, match="before fit"):
        make_retriever("random").retrieve(QUERY, 1)


def test_retrievers_are_a_registry_and_say_themselves_whether_they_need_an_encoder():
    assert RETRIEVERS.names() == ["fixed", "random", "sentence", "span"]
    assert {n: RETRIEVERS[n].needs_encoder for n in RETRIEVERS} == {
        "fixed": False,
        "random": False,
        "sentence": True,
        "span": True,
    }
    assert all(issubclass(RETRIEVERS[n], Retriever) and RETRIEVERS[n].name == n for n in RETRIEVERS)


def test_a_registered_retriever_is_built_by_make_retriever_and_accepted_by_the_config():
    from fewner.icl.config import load_icl_config

    @RETRIEVERS.register("first")
    class FirstRetriever(Retriever):
        """Always the pool's first sentences (a stand-in for a plugin)."""

        name = "first"

        def scores(self, queries):
            import numpy as np

            return np.tile(-np.arange(len(self.pool), dtype=float), (len(queries), 1))

    try:
        retriever = make_retriever("first", seed=1, max_words=3).fit(POOL)
        assert retriever.retrieve(QUERY, 2) == [0, 1]
        config = load_icl_config({"models": ["m"], "retrieval": {"method": "first"}})
        assert config.retrieval.method == "first"
    finally:
        RETRIEVERS.unregister("first")
    with pytest.raises(ConfigError, match=r"retrieval.method: unknown retriever 'first'"):
        load_icl_config({"models": ["m"], "retrieval": {"method": "first"}})


def test_encoder_encodes_each_distinct_string_once():
    enc = WordEncoder()
    retriever = SpanRetriever(enc).fit(POOL)
    retriever.scores([QUERY, QUERY])
    flat = [t for call in enc.calls for t in call]
    assert len(flat) == len(set(flat))


def test_query_candidates_name_runs_connectors_and_lowercase_fallback():
    s = sent("The CEO of Bank of America met @elonmusk and Tesla in 2024 .")
    texts = [s.mention(c) for c in query_candidates(s, max_words=5)]
    assert texts == ["CEO of Bank of America", "@elonmusk", "Tesla"]
    cut = [s.mention(c) for c in query_candidates(s, max_words=4)]
    assert cut == ["CEO of Bank", "America", "@elonmusk", "Tesla"]  # no edge "of"
    lower = sent("going to see the new star wars movie tonight")
    assert [lower.mention(c) for c in query_candidates(lower)] == [
        "going",
        "see",
        "new star wars movie",
        "tonight",
    ]
    long = sent("Aa Bb Cc Dd Ee Ff Gg")
    cut = [long.mention(c) for c in query_candidates(long, max_words=3)]
    assert cut == ["Aa Bb Cc", "Dd Ee Ff", "Gg"]
    assert len(query_candidates(long, max_words=1, max_candidates=2)) == 2
    assert query_candidates(sent(", . !")) == []
