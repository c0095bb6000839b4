"""Shared pieces of the benchmark scripts: WNUT-17 sentences, a sentence-first prompt, JSON out.

The prompt layout puts everything that does not depend on the entity type first (the task in
the system turn, then the sentence) and the entity type last, so the prompts of one sentence
share a long token prefix: what the prefix-sharing benchmarks measure. It is built here, not
taken from ``fewner.prompts``, so that these numbers do not move when the templates do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

TYPES = ["person", "location", "group", "product"]
DATA = Path(__file__).resolve().parents[2] / "shared/data/wnut17/emerging.test.annotated"
RESULTS = Path(__file__).resolve().parent / "results"

SYSTEM = (
    "You find named entities. Read the text, then list every mention of the entity type asked "
    "for, one per line, exactly as written in the text. Answer 'none' if there is none."
)
USER = "Text: {text}\nEntity type: {type}"


def wnut_sentences(n: int, path: Path = DATA, min_tokens: int = 5) -> list[str]:
    """The first ``n`` WNUT-17 test sentences with at least ``min_tokens`` tokens."""
    from fewner.data.io import read_corpus

    sents = [s.text for s in read_corpus(path) if len(s.tokens) >= min_tokens]
    return sents[:n]


def sentence_first_prompts(chat: Any, sentences: list[str], types: list[str]) -> list[str]:
    """One prompt per (sentence, type), sentence-major; ``chat(user, system)`` renders a turn."""
    return [chat(USER.format(text=s, type=t), SYSTEM) for s in sentences for t in types]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    info: dict[str, Any] = {"cpu_cores": cores, "platform": platform.platform()}
    try:
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def write_json(name: str, summary: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``summary`` to ``path`` (default ``benchmarks/results/<name>.json``)."""
    out = path or RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def generation_arguments(description: str) -> argparse.ArgumentParser:
    """The options the llama.cpp/hf generation benchmarks share (model, sizes, threads)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--sentences", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--llama-threads",
        type=int,
        help="llama.cpp threads (default: --threads); its threads meet at a barrier per op, so "
        "on a loaded 2-core box 2 threads can be several times slower than 1",
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    return ap


def source_stage(sentences: int | None = None) -> tuple[Any, list[Any], dict[str, str], Any, Any]:
    """The shipped source file's settings, its dealt epoch (the first ``sentences``), Pile-NER
    definitions, and the base model with its tokenizer on the CPU: what the source-training
    benchmarks start from. Data under $FEWNER_SHARED_DATA (default ../shared/data)."""
    import torch

    from fewner.spanmodel.source import load_mixture_file
    from fewner.train.source import load_source_settings, pile_ner_definitions
    from fewner.train.stages import load_model

    root = os.environ.get("FEWNER_SHARED_DATA", "../shared/data")
    settings = load_source_settings("smollm2-source")
    examples = load_mixture_file(settings.mixture, root).epoch(settings.seed, 0)[:sentences]
    definitions = pile_ner_definitions(os.path.join(root, settings.definitions))
    torch.manual_seed(0)
    model, tokenizer, _ = load_model(settings.model, print, torch.device("cpu"))
    return settings, examples, definitions, model, tokenizer


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def alternate(runs: dict, repeat: int) -> tuple[dict, dict]:
    """Run each named callable ``repeat`` times, alternating the order (ABBA...).

    The machine is shared, so every run is timed and the fastest of each is reported (the one
    least disturbed by other load); outputs are the first run's.
    """
    names = list(runs)
    outs: dict = {}
    times: dict = {n: [] for n in names}
    for r in range(repeat):
        for n in names if r % 2 == 0 else names[::-1]:
            out, t = timed(runs[n])
            outs.setdefault(n, out)
            times[n].append(round(t, 2))
    return outs, times
