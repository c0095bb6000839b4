"""Real catalogue models: verify, join and convert for real (slow: 20-60 s and ~0.5-1 GB each).

Conversions go to a fresh cache in tmp_path so the test measures a real first conversion and
never depends on (or disturbs) the user's cache.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fewner.models import CATALOGUE, DEFAULT_CAUSAL_MODEL, DEFAULT_ENCODER, hf_path
from fewner.models.convert import read_report
from fewner.models.locate import gguf_path, is_installed

pytestmark = pytest.mark.slow


def _need(name: str) -> None:
    if not is_installed(CATALOGUE[name]):
        pytest.skip(f"{name} is not installed (./dev setup installs it)")


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FEWNER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_smollm2_converts_with_chat_template_offsets_and_distinct_pad(fresh_cache: Path) -> None:
    _need(DEFAULT_CAUSAL_MODEL)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    folder = hf_path(DEFAULT_CAUSAL_MODEL)
    seconds = time.perf_counter() - start
    report = read_report(Path(folder))
    assert report is not None
    print(f"\nsmollm2 conversion: {seconds:.1f} s, {report.folder_bytes / 1e6:.0f} MB")

    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.is_fast and tok.chat_template  # the template survives the conversion
    assert tok.pad_token is not None and tok.pad_token_id != tok.eos_token_id
    text = "Alice moved to Paris."
    enc = tok(text, return_offsets_mapping=True)
    pieces = [text[a:b] for a, b in enc["offset_mapping"]]
    assert "".join(pieces) == text
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.rstrip().endswith("assistant")

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert getattr(model.config, "quantization_config", None) is None
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert torch.isfinite(logits).all()
    # A second call reuses the folder instead of converting again.
    weights_mtime = [p.stat().st_mtime_ns for p in sorted(Path(folder).iterdir())]
    assert hf_path(DEFAULT_CAUSAL_MODEL) == folder
    assert [p.stat().st_mtime_ns for p in sorted(Path(folder).iterdir())] == weights_mtime


def test_gemma_chunks_join_to_the_published_hash(fresh_cache: Path) -> None:
    _need("gemma3-270m")
    start = time.perf_counter()
    path = gguf_path("gemma3-270m")
    print(f"\ngemma3-270m join+verify: {time.perf_counter() - start:.1f} s")
    assert path.parent == fresh_cache / "gguf" and path.stat().st_size > 200e6
    with path.open("rb") as fh:
        assert fh.read(4) == b"GGUF"


def test_encoder_folder_loads_with_offsets(fresh_cache: Path) -> None:
    _need(DEFAULT_ENCODER)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_path(DEFAULT_ENCODER))
    enc = tok("Alice moved to Paris.", return_offsets_mapping=True)
    assert tok.is_fast and (0, 5) in enc["offset_mapping"]
