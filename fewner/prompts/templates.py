"""Versioned prompt templates: the text around one (sentence, entity type) question.

A template is a YAML file (``fewner/resources/templates/NAME-vN.yaml``, or any path) with literal
sections and the answer grammar::

    name, version, description
    layout: type_first | sentence_first
    preamble, instruction ({type}, {definition}), input ({sentence}), response
    answer: prefix, open, close, separator, suffix, none   (fields of AnswerGrammar)
    stop: [strings an unconstrained backend stops at]

Why files and versions: the exact prompt text is part of a trained adapter's contract. A model
fine-tuned on ``obp-llm-v1`` must be prompted with ``obp-llm-v1``; a changed text gets a new
file, and :attr:`PromptTemplate.id` (recorded with each run) names what was used.

Why two layouts: ``type_first`` is the published order (the model reads what to look for, then
the sentence). ``sentence_first`` puts the sentence before the type instruction so that the N
prompts of one sentence share a long prefix (preamble + sentence) that a backend with KV-cache
reuse encodes once; the sentence's hidden states then cannot depend on the type. See the
comments in ``obp-llm-v1.yaml``.

The shipped files are registered by name in :data:`TEMPLATES` (:mod:`fewner.prompts.files`):
:func:`available_templates` and :func:`template_families` (for CLI help) list the registry, and a
package registers its own templates there by name.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fewner.data.reading import read_utf8
from fewner.decoding.grammar import AnswerGrammar
from fewner.errors import ConfigError
from fewner.prompts.files import PromptFile, register_packaged
from fewner.registry import Registry

__all__ = [
    "LAYOUTS",
    "TEMPLATES",
    "PromptTemplate",
    "available_templates",
    "load_template",
    "template_families",
]

#: Template files by versioned name (``obp-llm-v1``): the shipped ones, then any registered.
TEMPLATES: Registry[PromptFile] = Registry("template")
register_packaged(TEMPLATES, "templates")

#: Section orders by layout name.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "type_first": ("preamble", "instruction", "input", "response"),
    "sentence_first": ("preamble", "input", "instruction", "response"),
}

# Which placeholders each section may hold, and which it must hold.
_ALLOWED = {
    "preamble": set(),
    "instruction": {"type", "definition"},
    "input": {"sentence"},
    "response": set(),
}
_REQUIRED = {"instruction": {"type"}, "input": {"sentence"}}
_KEYS = {"name", "version", "description", "layout", "answer", "stop", *_ALLOWED}
_ANSWER_KEYS = {f.name for f in dataclasses.fields(AnswerGrammar)}


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt template; build with :func:`load_template` (validated) or directly."""

    name: str
    version: str
    preamble: str
    instruction: str
    input: str
    response: str
    grammar: AnswerGrammar
    layout: str = "type_first"
    stop: tuple[str, ...] = ()
    description: str = ""
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(
                f"template {self.name!r}: unknown layout {self.layout!r}; expected {' or '.join(LAYOUTS)}"
            )
        for section, allowed in _ALLOWED.items():
            used = _placeholders(getattr(self, section), f"template {self.name!r}, {section}")
            if used - allowed:
                raise ConfigError(
                    f"template {self.name!r}: section {section!r} may not use "
                    f"{', '.join('{' + p + '}' for p in sorted(used - allowed))}"
                    f" (allowed: {', '.join('{' + p + '}' for p in sorted(allowed)) or 'none'})"
                )
            missing = _REQUIRED.get(section, set()) - used
            if missing:
                raise ConfigError(
                    f"template {self.name!r}: section {section!r} must contain "
                    f"{', '.join('{' + p + '}' for p in sorted(missing))}"
                )

    @property
    def id(self) -> str:
        """``name-vVERSION``, plus ``+layout`` when the layout is not the default: what a run records."""
        base = f"{self.name}-v{self.version}"
        return base if self.layout == "type_first" else f"{base}+{self.layout}"

    def with_layout(self, layout: str) -> PromptTemplate:
        """The same template with the sections in another order (see :data:`LAYOUTS`)."""
        return dataclasses.replace(self, layout=layout)

    def render_prompt(self, sentence_text: str, entity_type: str, definition: str) -> str:
        """The full prompt; the model's answer continues right after it."""
        parts = {
            "preamble": self.preamble,
            "instruction": self.instruction.format(type=entity_type, definition=definition),
            "input": self.input.format(sentence=sentence_text),
            "response": self.response,
        }
        return "".join(parts[s] for s in LAYOUTS[self.layout])

    def shared_prefix(self, sentence_text: str) -> str:
        """The text every prompt of ``sentence_text`` starts with, whatever the type.

        Under ``sentence_first`` this is the preamble and the whole input section (what a backend
        can cache per sentence); under ``type_first`` only the preamble.
        """
        out = ""
        for section in LAYOUTS[self.layout]:
            if section == "instruction":
                break
            out += (
                self.input.format(sentence=sentence_text)
                if section == "input"
                else getattr(self, section)
            )
        return out

    def render_target(self, mentions: Iterable[str]) -> str:
        """The answer listing ``mentions`` in order (the none answer when there are none)."""
        return self.grammar.render(mentions)


def _placeholders(text: str, where: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as err:  # a lone brace
        raise ConfigError(f"{where}: {err} (write a literal brace as {{{{ or }}}})") from None


# ----- loading ------------------------------------------------------------------------------


def available_templates() -> list[str]:
    """Versioned names (``obp-llm-v1``, ...) of every registered template, sorted."""
    return TEMPLATES.names()


def template_families() -> list[str]:
    """Template names without version (``cllmfs``, ``obp-llm``): each loads its highest version."""
    return sorted({_family(name) for name in available_templates()})


def _family(name: str) -> str:
    head, sep, version = name.rpartition("-v")
    return head if sep and version[:1].isdigit() else name


def load_template(name_or_path: str | Path, *, layout: str | None = None) -> PromptTemplate:
    """Load a template by shipped name or by path.

    ``name_or_path``: a YAML path; a shipped name with version (``obp-llm-v1``); or a shipped
    name without version (``obp-llm``), meaning its highest version. ``layout`` overrides the
    file's layout (e.g. ``sentence_first`` for prefix reuse).
    """
    text, source = _read_template_text(str(name_or_path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    template = _from_mapping(data, source)
    return template.with_layout(layout) if layout is not None else template


def _read_template_text(name: str) -> tuple[str, str]:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"template file not found: {path}")
        return read_utf8(path, "template file"), str(path)
    known = available_templates()
    if name not in known:
        versions = [s for s in known if s.rpartition("-v")[0] == name]
        if not versions:
            raise ConfigError(
                f"unknown template {name!r}: give a YAML path or one of {', '.join(known)}"
            )
        name = max(versions, key=lambda s: _version_key(s.rpartition("-v")[2]))
    entry = TEMPLATES[name]
    return entry.read_text(), entry.source


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def _from_mapping(data: Any, source: str) -> PromptTemplate:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a template must be a YAML mapping")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown keys {sorted(unknown)}; expected some of {sorted(_KEYS)}"
        )
    missing = {"name", "version", "instruction", "input", "answer"} - set(data)
    if missing:
        raise ConfigError(f"{source}: missing keys {sorted(missing)}")
    for key in ("name", "description", "layout", *_ALLOWED):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{source}: {key!r} must be a string")
    answer = data["answer"]
    if not isinstance(answer, dict):
        raise ConfigError(f"{source}: 'answer' must be a mapping of {sorted(_ANSWER_KEYS)}")
    bad = set(answer) - _ANSWER_KEYS
    if bad:
        raise ConfigError(
            f"{source}: unknown answer keys {sorted(bad)}; expected some of {sorted(_ANSWER_KEYS)}"
        )
    if any(v is not None and not isinstance(v, str) for v in answer.values()):
        raise ConfigError(f"{source}: answer fields must be strings (none may be null)")
    stop = data.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ConfigError(f"{source}: 'stop' must be a list of non-empty strings")
    try:
        grammar = AnswerGrammar(**answer)
    except ValueError as err:
        raise ConfigError(f"{source}: answer: {err}") from None
    return PromptTemplate(
        name=data["name"],
        version=str(data["version"]),
        description=data.get("description", ""),
        layout=data.get("layout", "type_first"),
        preamble=data.get("preamble", ""),
        instruction=data["instruction"],
        input=data["input"],
        response=data.get("response", ""),
        grammar=grammar,
        stop=tuple(stop),
        source=source,
    )
