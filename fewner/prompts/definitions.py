"""Entity-type definitions: the short text each prompt gives for its type.

A definitions file is a flat YAML mapping ``type: definition`` (a noun phrase that completes
"The entity of {type} refers to ... in the input sentence"). fewner ships one per benchmark
(``conll2003``, ``wnut17``, ``gum``, ``fewnerd``, in ``fewner/resources/definitions``); users
pass the path of their own file instead, or a small ``overrides`` file on top of a shipped one.

Why a file and not code: definitions are prompt text that users tune for their domain, and the
text a model was fine-tuned with should be the one it is served with; a file can be versioned
beside the run config.

The shipped files are registered by name in :data:`DEFINITIONS` (:mod:`fewner.prompts.files`),
so :func:`available_definitions` and CLI help list what ships, and a package can add its own.

Few-NERD types also resolve from their underscore spelling (``person_actor``), the spelling of the
unofficial BIO re-tagging of its INTER test split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fewner.data.formats.fewnerd import fewnerd_label
from fewner.data.reading import read_utf8
from fewner.errors import ConfigError
from fewner.prompts.files import PromptFile, register_packaged
from fewner.registry import Registry

__all__ = [
    "DEFINITIONS",
    "Definitions",
    "MissingDefinitionError",
    "available_definitions",
    "load_definitions",
]

#: Definition files by name (``conll2003``, ``wnut17``, ...): the shipped ones, then any registered.
DEFINITIONS: Registry[PromptFile] = Registry("definitions", group="fewner.definitions")
register_packaged(DEFINITIONS, "definitions")


class MissingDefinitionError(ConfigError, KeyError):
    """Entity types that have no definition; ``missing`` lists them all, not just the first.

    Also a ``KeyError``, so ``Definitions`` keeps the ``dict`` contract for a missing key.
    """

    def __init__(self, missing: Iterable[str], source: str) -> None:
        self.missing = tuple(sorted(set(missing)))
        self.source = source
        super().__init__(
            f"no definition for entity type(s) {', '.join(repr(t) for t in self.missing)} in "
            f"{source}; add them to a definitions file (type: definition) and pass its path, "
            "e.g. load_definitions(NAME, overrides='my-definitions.yaml')"
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Definitions(dict[str, str]):
    """A ``dict`` of type -> definition that also finds a type by its underscore spelling.

    ``defs["person_actor"]`` returns the entry of ``person-actor`` when only the latter exists
    (``get`` and ``in`` agree). :meth:`require` checks a whole type list at once.
    """

    source: str = "<definitions>"

    def _resolve(self, key: object) -> object:
        if isinstance(key, str) and not dict.__contains__(self, key):
            alt = fewnerd_label(key)
            if alt != key and dict.__contains__(self, alt):
                return alt
        return key

    def __missing__(self, key: str) -> str:
        alt = self._resolve(key)
        if alt is not key:
            return dict.__getitem__(self, alt)
        raise MissingDefinitionError([key], self.source)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self._resolve(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[key] if key in self else default

    def canonical(self, key: str) -> str:
        """The entry's own spelling of ``key`` (``person_actor`` -> ``person-actor``)."""
        resolved = self._resolve(key)
        if not dict.__contains__(self, resolved):
            raise MissingDefinitionError([key], self.source)
        return resolved  # type: ignore[return-value]

    def require(self, types: Iterable[str]) -> dict[str, str]:
        """``{canonical type: definition}`` for ``types``, in order.

        Raises :class:`MissingDefinitionError` naming every missing type at once.
        """
        types = list(types)
        missing = [t for t in types if t not in self]
        if missing:
            raise MissingDefinitionError(missing, self.source)
        return {self.canonical(t): self[t] for t in types}


def available_definitions() -> list[str]:
    """Names of the registered definition files (the shipped ones and any added), sorted."""
    return DEFINITIONS.names()


def load_definitions(
    name_or_path: str | Path | Mapping[str, str],
    *,
    overrides: str | Path | Mapping[str, str] | None = None,
) -> Definitions:
    """Definitions from a shipped name (``conll2003``), a YAML path or a mapping.

    ``overrides`` (same kinds) replaces or adds single entries on top.
    """
    defs = Definitions(_read(name_or_path))
    defs.source = _describe(name_or_path)
    if overrides is not None:
        defs.update(_read(overrides))
        defs.source += f" + {_describe(overrides)}"
    return defs


def _describe(src: str | Path | Mapping[str, str]) -> str:
    return "<mapping>" if isinstance(src, Mapping) else str(src)


def _read(src: str | Path | Mapping[str, str]) -> dict[str, str]:
    if isinstance(src, Mapping):
        return _validated(dict(src), "<mapping>")
    path = Path(src)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"definitions file not found: {path}")
        text, where = read_utf8(path, "definitions file"), str(path)
    else:
        name = str(src)
        if name not in available_definitions():
            raise ConfigError(
                f"unknown definitions {name!r}: give a YAML path or one of "
                f"{', '.join(available_definitions())}"
            )
        entry = DEFINITIONS[name]
        text, where = entry.read_text(), entry.source
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {err}") from None
    return _validated(data if data is not None else {}, where)


def _validated(data: Any, where: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: definitions must be a mapping of entity type -> definition")
    bad = [
        k
        for k, v in data.items()
        if not isinstance(k, str) or not isinstance(v, str) or not v.strip()
    ]
    if bad:
        raise ConfigError(f"{where}: each definition must be a non-empty string; check {bad!r}")
    return {k: " ".join(v.split()) for k, v in data.items()}
