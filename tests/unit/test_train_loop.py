"""The training loop: exact resume after a crash, accumulation, frozen base, logs, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from fewner.errors import ConfigError  # noqa: E402
from fewner.prompts import ExtractionFormat  # noqa: E402
from fewner.train.collate import build_examples  # noqa: E402
from fewner.train.loop import LoopSettings, Trainer, epoch_batches, epoch_order  # noqa: E402
from fewner.train.lora import PRESETS, LoraSettings, wrap  # noqa: E402
from fewner.train.losses import build_loss_terms  # noqa: E402
from tests.unit.train_tiny import mini_sentences, tiny_causal_lm  # noqa: E402

TYPES = ["PER", "LOC", "ORG", "MISC"]
# dropout and the hidden term's noise both draw random numbers: resume must restore RNG state
TERMS = [
    {"name": "nll"},
    {"name": "attn_contrastive", "weight": 0.01},
    {"name": "hidden_contrastive", "weight": 0.001},
]


class Crash(RuntimeError):
    pass


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def examples(model_dir: Path):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    fmt = ExtractionFormat("obp-llm", "conll2003")
    return build_examples(mini_sentences(), TYPES, fmt, tokenizer).examples, tokenizer.pad_token_id


def _model(model_dir: Path, seed: int = 0, lora: LoraSettings = PRESETS["obp-llm"]):
    torch.manual_seed(seed)
    return wrap(AutoModelForCausalLM.from_pretrained(model_dir), lora)


def _trainer(model, examples, folder: Path, terms=TERMS, **settings) -> Trainer:
    items, pad = examples
    on_step = settings.pop("on_step", None)
    defaults = {"epochs": 2, "batch_size": 3, "grad_accum": 2, "lr": 5e-3, "seed": 3}
    return Trainer(
        model,
        items,
        build_loss_terms(terms, model),
        LoopSettings(**{**defaults, **settings}),
        folder,
        pad_id=pad,
        on_step=on_step,
    )


def _lora_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _crash_at(step: int):
    def on_step(done: int) -> None:
        if done == step:
            raise Crash(f"simulated crash after step {done}")

    return on_step


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def _steps(folder: Path) -> list[int]:
    lines = (folder / "log.jsonl").read_text().splitlines()
    return [json.loads(x)["step"] for x in lines if json.loads(x)["event"] == "step"]


@pytest.mark.parametrize("checkpoint_every", [0, 1])
def test_resume_after_a_crash_gives_the_same_adapter(
    model_dir: Path, examples, tmp_path: Path, checkpoint_every: int
) -> None:
    """Crash inside epoch 2, resume from the last checkpoint (epoch end, or the last step)."""
    full_model = _model(model_dir)
    full = _trainer(full_model, examples, tmp_path / "full", checkpoint_every=checkpoint_every)
    result = full.train()
    assert result.steps == full.total_steps == 2 * full.groups_per_epoch
    expected = _lora_state(full_model)

    crash_step = full.groups_per_epoch + 2  # two steps into the second epoch
    crashed = _model(model_dir)
    with pytest.raises(Crash):
        _trainer(
            crashed,
            examples,
            tmp_path / "run",
            checkpoint_every=checkpoint_every,
            on_step=_crash_at(crash_step),
        ).train()
    # A different LoRA initialisation and RNG state: the checkpoint must restore everything.
    resumed_model = _model(model_dir, seed=99)
    torch.manual_seed(12345)
    resumed = _trainer(resumed_model, examples, tmp_path / "run", checkpoint_every=checkpoint_every)
    result = resumed.train(resume=True)
    latest = full.groups_per_epoch if checkpoint_every == 0 else crash_step
    assert result.resumed_from == f"step-{latest:06d}"
    assert result.steps == full.total_steps
    _assert_same(expected, _lora_state(resumed_model))
    assert _steps(tmp_path / "run") == list(range(1, full.total_steps + 1))  # one clean log
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*"))
    assert len(kept) == 2  # keep_checkpoints default


def test_resume_refuses_changed_settings(model_dir: Path, examples, tmp_path: Path) -> None:
    _trainer(_model(model_dir), examples, tmp_path, epochs=1).train()
    with pytest.raises(ConfigError, match="lr"):
        _trainer(_model(model_dir), examples, tmp_path, epochs=1, lr=1e-3).train(resume=True)


def test_resume_of_a_finished_run_changes_nothing(
    model_dir: Path, examples, tmp_path: Path
) -> None:
    model = _model(model_dir)
    _trainer(model, examples, tmp_path, epochs=1).train()
    before = _lora_state(model)
    again = _model(model_dir, seed=5)
    result = _trainer(again, examples, tmp_path, epochs=1).train(resume=True)
    _assert_same(before, _lora_state(again))
    assert result.steps == _steps(tmp_path)[-1]


def test_only_lora_parameters_change(model_dir: Path, examples, tmp_path: Path) -> None:
    model = _model(model_dir)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    lora = _lora_state(model)
    _trainer(model, examples, tmp_path, epochs=1).train()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, lora[name]), f"{name} did not train"
        else:
            assert torch.equal(p, frozen[name]), f"{name} changed"


def test_accumulation_matches_one_big_batch(model_dir: Path, examples, tmp_path: Path) -> None:
    """4 x 4 accumulated = one batch of 16, for a per-example mean loss (no dropout)."""
    settings = {"epochs": 1, "warmup_ratio": 0.0, "seed": 1}
    no_dropout = LoraSettings.from_preset("obp-llm", dropout=0.0)
    nll = [{"name": "nll"}]
    a, b = _model(model_dir, lora=no_dropout), _model(model_dir, lora=no_dropout)
    _trainer(a, examples, tmp_path / "a", nll, batch_size=4, grad_accum=4, **settings).train()
    _trainer(b, examples, tmp_path / "b", nll, batch_size=16, grad_accum=1, **settings).train()
    sa, sb = _lora_state(a), _lora_state(b)
    for name in sa:
        torch.testing.assert_close(sa[name], sb[name], rtol=1e-4, atol=1e-6)
    assert any(
        not torch.equal(sa[n], _lora_state(_model(model_dir, lora=no_dropout))[n]) for n in sa
    )


def test_evaluation_consumes_no_training_randomness(
    model_dir: Path, examples, tmp_path: Path
) -> None:
    calls = []

    def noisy_eval(model) -> dict[str, float]:
        calls.append(model.training)
        torch.rand(100)  # an evaluation that draws random numbers
        return {"f1": 0.5}

    plain = _model(model_dir)
    _trainer(plain, examples, tmp_path / "plain", epochs=1).train()
    evaluated = _model(model_dir)
    trainer = _trainer(evaluated, examples, tmp_path / "eval", epochs=1, eval_every=1)
    trainer.evaluate = noisy_eval
    result = trainer.train()
    _assert_same(_lora_state(plain), _lora_state(evaluated))
    assert len(calls) == trainer.total_steps  # every step, not again at the end
    assert [e["step"] for e in result.evals] == list(range(1, trainer.total_steps + 1))
    records = [json.loads(x) for x in (tmp_path / "eval" / "log.jsonl").read_text().splitlines()]
    assert {r["event"] for r in records} == {"step", "eval"}
    assert evaluated.training  # back in train mode after evaluating


def test_log_records(model_dir: Path, examples, tmp_path: Path) -> None:
    trainer = _trainer(_model(model_dir), examples, tmp_path, epochs=1, log_every=2)
    trainer.train()
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    total = trainer.total_steps
    assert [r["step"] for r in records] == sorted({*range(2, total + 1, 2), total})
    for key in (
        "epoch",
        "loss",
        "nll",
        "attn_contrastive",
        "hidden_contrastive",
        "lr",
        "grad_norm",
        "seconds",
    ):
        assert key in records[-1], key
    assert records[-1]["epoch"] == 1.0


def test_epoch_order_depends_on_seed_and_epoch_only() -> None:
    assert epoch_order(10, 0, 0) == epoch_order(10, 0, 0)
    assert epoch_order(10, 0, 0) != epoch_order(10, 0, 1)
    assert epoch_order(10, 0, 0) != epoch_order(10, 1, 0)
    assert sorted(epoch_order(10, 4, 2)) == list(range(10))


def test_length_grouped_batches_partition_the_epoch_and_pad_less() -> None:
    generator = torch.Generator().manual_seed(3)
    lengths = torch.randint(10, 500, (1000,), generator=generator).tolist()

    def padded(batches: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    plain = epoch_batches(lengths, 4, 0, 0)
    grouped = epoch_batches(lengths, 4, 0, 0, by_length=True)
    assert plain == [epoch_order(1000, 0, 0)[i : i + 4] for i in range(0, 1000, 4)]
    assert sorted(i for b in grouped for i in b) == list(range(1000))
    assert all(len(b) == 4 for b in grouped)
    assert padded(grouped) < 0.85 * padded(plain)
    assert grouped == epoch_batches(lengths, 4, 0, 0, by_length=True)
    assert grouped != epoch_batches(lengths, 4, 0, 1, by_length=True)
    # the long batches are not all at the start of the epoch
    firsts = [max(lengths[i] for i in b) for b in grouped[:50]]
    assert min(firsts) < 400


def test_group_by_length_keeps_old_fingerprints_when_off(model_dir: Path, examples, tmp_path: Path) -> None:
    model = _model(model_dir)
    off = _trainer(model, examples, tmp_path / "a").fingerprint()
    on = _trainer(model, examples, tmp_path / "b", group_by_length=True).fingerprint()
    assert "group_by_length" not in off and on["group_by_length"] is True


def test_a_length_grouped_run_trains_on_every_example(model_dir: Path, examples, tmp_path: Path) -> None:
    model = _model(model_dir)
    result = _trainer(model, examples, tmp_path / "run", group_by_length=True, epochs=1).train()
    assert result.examples == len(examples[0]) and result.steps > 0
