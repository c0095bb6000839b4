"""A support-set dictionary baseline: label query text with the mentions seen in the support set.

It needs no model, so it gives every few-shot experiment a floor to beat and lets the demo and
tests exercise the whole data -> episodes -> predict -> evaluate path in seconds. Matching is on
whole tokens, case-insensitive, longest mention first; matches never overlap. A surface form
seen with several types takes its most frequent type (ties: alphabetical), which is what a
lookup table can do and no more.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from fewner.types import Sentence, Span


class DictionaryMatcher:
    """Exact token-sequence lookup of support-set mentions."""

    def __init__(self, support: Iterable[Sentence], types: Sequence[str] | None = None) -> None:
        wanted = set(types) if types is not None else None
        votes: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        for sentence in support:
            for first, last, label in sentence.token_spans():
                if wanted is None or label in wanted:
                    key = tuple(w.casefold() for w in sentence.words[first:last])
                    votes[key][label] += 1
        self.lexicon: dict[tuple[str, ...], str] = {
            key: min(counts, key=lambda lab: (-counts[lab], lab)) for key, counts in votes.items()
        }
        self.max_len = max((len(k) for k in self.lexicon), default=0)

    def predict(self, sentence: Sentence) -> Sentence:
        """The sentence with its spans replaced by dictionary matches."""
        words = [w.casefold() for w in sentence.words]
        spans: list[Span] = []
        i = 0
        while i < len(words):
            for length in range(min(self.max_len, len(words) - i), 0, -1):
                label = self.lexicon.get(tuple(words[i : i + length]))
                if label is not None:
                    spans.append(sentence.token_span_to_char(i, i + length, label))
                    i += length
                    break
            else:
                i += 1
        return sentence.with_spans(spans)
