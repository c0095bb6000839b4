"""YAML configs validated into dataclasses: one reader, one layering of presets, one ``--set``
override syntax, one validator, shared by ``fewner train``, ``fewner icl`` and ``fewner distill``.

:func:`load_layered_config` builds a command's config mapping in layers: a named preset shipped
in the package (``fewner/resources/<kind>/<name>.yaml``, named by the file's ``recipe:`` /
``preset:`` key or by the caller), the user's YAML file deep-merged over it, then overrides
(``--set a.b.c=VALUE`` strings, or a mapping of dotted keys to Python values). Presets live in
the package so a named recipe works from an installed wheel, not only from a checkout.

:func:`build_dataclass` instantiates a (nested) dataclass from a mapping, checking every key
against the fields (a misspelt key would otherwise silently keep its default) and every value
against the field's annotation; errors name the dotted key and what was expected. A field with
``metadata={"config": False}`` is no config key; a dataclass with a ``from_config(data, where)``
classmethod parses its own mapping (a training stage splits its flat keys into parts).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fewner.data.reading import read_utf8
from fewner.errors import ConfigError

__all__ = [
    "apply_overrides",
    "build_dataclass",
    "load_yaml",
    "deep_merge",
    "list_presets",
    "load_layered_config",
    "preset_description",
    "read_preset",
    "read_yaml_mapping",
    "require_positive",
]

_PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2's exponent floats without a dot (``3e-4``), which
    YAML 1.1 reads as the string "3e-4" (a learning rate a type check then refuses)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Parse YAML text the way every fewner config and ``--set`` value is read (:class:`_Loader`);
    raises ``yaml.YAMLError`` like ``yaml.safe_load``."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def read_yaml_mapping(path: str | Path | None) -> dict[str, Any]:
    """The YAML mapping in ``path`` (``{}`` for None or an empty file)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        text = read_utf8(path, "config file")  # bad bytes: file, line, byte
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from None
    return _yaml_mapping(text, str(path))


def _yaml_mapping(text: str, where: str) -> dict[str, Any]:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a config must be a YAML mapping")
    return data


def apply_overrides(
    data: dict[str, Any],
    overrides: Sequence[str] | Mapping[str, Any],
    *,
    example: str = "stages.target.epochs=3",
) -> dict[str, Any]:
    """A copy of ``data`` with each override set (intermediate mappings are created).

    ``overrides``: ``a.b.c=VALUE`` strings (``--set``; VALUE read as YAML), or a mapping of
    dotted keys to Python values (``{"stages.target.data": {"inline": [...]}}``). Either way a
    key *replaces* the value at its path (a mapping value is not merged into the old one).
    """
    data = copy.deepcopy(data)
    for key, value, label in _override_items(overrides, example):
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{label}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return data


def _override_items(
    overrides: Sequence[str] | Mapping[str, Any], example: str
) -> list[tuple[str, Any, str]]:
    """``(dotted key, value, label for errors)`` of each override."""
    if isinstance(overrides, Mapping):
        items = []
        for key, value in overrides.items():
            if not isinstance(key, str) or not key.strip() or "" in key.strip().split("."):
                raise ConfigError(f"override {key!r}: expected a dotted key, e.g. {example}")
            items.append((key.strip(), value, f"override {key!r}"))
        return items
    if isinstance(overrides, str):
        overrides = [overrides]
    items = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. {example}")
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {err}") from None
        items.append((key.strip(), value, f"--set {item!r}"))
    return items


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: mappings merge key by key (``base``'s key order
    first, new keys after), any other value of ``over`` (a list, a scalar, null) replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ----- presets ------------------------------------------------------------------------------


def _preset_folder(preset_kind: str) -> Any:
    return resources.files("fewner").joinpath("resources", preset_kind)


def list_presets(preset_kind: str) -> list[str]:
    """Names of the presets shipped in ``fewner/resources/<preset_kind>/`` (sorted)."""
    folder = _preset_folder(preset_kind)
    if not folder.is_dir():
        return []
    return sorted(
        entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def _preset_text(preset_kind: str, name: str, key: str) -> str:
    if isinstance(name, str) and _PRESET_NAME.match(name):
        entry = _preset_folder(preset_kind).joinpath(f"{name}.yaml")
        if entry.is_file():
            return entry.read_text(encoding="utf-8")
    known = ", ".join(list_presets(preset_kind)) or "none"
    raise ConfigError(f"{key}: unknown {key} {name!r}; known: {known}")


def preset_description(preset_kind: str, name: str) -> str:
    """The first comment line of a shipped preset (its one-line description)."""
    for line in _preset_text(preset_kind, name, preset_kind.rstrip("s")).splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def _preset_mapping(preset_kind: str, name: str, key: str, seen: tuple[str, ...]) -> dict:
    """A shipped preset, itself layered over the preset its ``key`` names (if any)."""
    if name in seen:
        raise ConfigError(f"{key}: presets name each other in a loop: {' -> '.join([*seen, name])}")
    where = f"fewner/resources/{preset_kind}/{name}.yaml"
    data = _yaml_mapping(_preset_text(preset_kind, name, key), where)
    parent = data.pop(key, None)
    if parent is not None:
        data = deep_merge(_preset_mapping(preset_kind, parent, key, (*seen, name)), data)
    return data


def read_preset(preset_kind: str, name: str, *, key: str | None = None) -> dict[str, Any]:
    """The mapping of shipped preset ``name`` (``fewner/resources/<preset_kind>/<name>.yaml``),
    layered over the preset its ``key`` names, if any (as :func:`load_layered_config` does)."""
    key = key or preset_kind.rstrip("s")
    return _preset_mapping(preset_kind, name, key, ())


def load_layered_config(
    path: str | Path | None,
    *,
    preset_kind: str,
    preset: str | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    key: str | None = None,
    example: str = "stages.target.epochs=3",
) -> dict[str, Any]:
    """A command's config mapping: preset, then the file at ``path``, then ``overrides``.

    ``preset_kind``: the folder of presets under ``fewner/resources`` (``recipes``). The preset
    is ``preset`` when given (a command-line flag such as ``--recipe``), else an override of
    ``key``, else the file's ``key`` (default: ``preset_kind`` without its plural ``s``, e.g.
    ``recipe: obp-llm``); none: no base layer. The file's keys are deep-merged over the preset
    (:func:`deep_merge`); ``overrides`` are then set as :func:`apply_overrides` does. ``key`` is
    consumed here: it is not part of the returned mapping.
    """
    key = key or preset_kind.rstrip("s")
    data = read_yaml_mapping(path)
    name = data.pop(key, None)
    rest = []
    for item_key, value, _label in _override_items(overrides, example):
        if item_key == key:
            name = value
        else:
            rest.append((item_key, value))
    if preset is not None:
        name = preset
    if name is not None:
        data = deep_merge(_preset_mapping(preset_kind, name, key, ()), data)
    return apply_overrides(data, dict(rest), example=example)


def build_config(cls: type, data: Any, source: str) -> Any:
    """A whole run config: :func:`build_dataclass` then the config's own ``check()``; every
    error starts with ``source`` (the file or preset it came from)."""
    try:
        config = build_dataclass(cls, data)
        config.check()
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return config


def build_dataclass(cls: type, data: Any, where: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``data``, checking keys and value types."""
    label = where or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("config", True)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{label}: unknown key(s) {unknown}; expected some of {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing (required)")
            continue
        kwargs[name] = _coerce(hints[name], data[name], key)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        first: ConfigError | None = None
        for alternative in inner:  # the first alternative that takes the value
            try:
                return _coerce(alternative, value, key)
            except ConfigError as err:
                first = first or err
        assert first is not None
        raise first
    if dataclasses.is_dataclass(tp):
        parse = getattr(tp, "from_config", None)
        return parse(value, key) if parse is not None else build_dataclass(tp, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {_kind(value)}")
        return [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {_kind(value)}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover


def require_positive(value: int | None, where: str, allow_none: bool = False) -> None:
    """ConfigError naming ``where`` unless ``value >= 1`` (or None when ``allow_none``)."""
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise ConfigError(f"{where} must be >= 1, got {value!r}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
