"""One registry type for everything fewner chooses by name.

Backends, loss terms, stage kinds, readers and writers, retrievers, voters, schedules, LoRA
presets and predictors are each a :class:`Registry`. A component registers itself where it is
defined (``@BACKENDS.register("hf")``); a registry can also know, without importing it, which
module defines a name (``lazy={"hf": "fewner.backends.hf"}``) so that choosing ``hf`` imports
torch only when ``hf`` is asked for. CLI choices and error messages list :meth:`Registry.names`,
which includes lazy names, so they never go stale.

Third-party packages add components through the entry-point group ``fewner.<name>s``
(e.g. ``[project.entry-points."fewner.backends"] mine = "pkg.module"``): the module is
imported the first time a name is not found, and registers itself as fewner's own modules do.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

from fewner.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T], Mapping[str, T]):
    """Names -> components of one kind (a class, a factory or a value).

    It is a read-only :class:`~collections.abc.Mapping` (``name in REG``, ``REG[name]``,
    iteration over the registered names); ``REG[name]`` imports the lazy module or entry point
    that defines ``name`` when needed and raises :class:`~fewner.errors.ConfigError` listing
    the known names when it is unknown.
    """

    def __init__(
        self, name: str, *, lazy: Mapping[str, str] | None = None, group: str | None = None
    ) -> None:
        self.name = name  # singular, for messages: "unknown backend 'x'"
        self.group = group or f"fewner.{name.replace(' ', '_')}s"  # entry-point group
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = dict(lazy or {})
        self._entry_points_loaded = False

    # ----- registering ---------------------------------------------------------------------
    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T) -> T: ...

    def register(self, name: str, item: Any = None) -> Any:
        """Add ``item`` under ``name``; without ``item``, a decorator that does so.

        Registering a name twice is an error (two components would silently shadow each other).
        """

        def add(obj: T) -> T:
            if not name or not isinstance(name, str):
                raise ValueError(f"{self.name}: a component needs a non-empty name")
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.name}: {name!r} registered twice")
            self._items[name] = obj
            return obj

        return add if item is None else add(item)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a temporary component clean up with this)."""
        self._items.pop(name, None)

    # ----- looking up ------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every name this registry can resolve, registered or lazy, sorted."""
        self._load_entry_points()
        return sorted(set(self._items) | set(self._lazy))

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[name]
        except ConfigError:
            return default

    def __getitem__(self, name: str) -> T:
        if name not in self._items and name in self._lazy:
            module = self._lazy[name]
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:
                raise ConfigError(
                    f"{self.name} {name!r} is not available: {err} (is its extra installed?)"
                ) from err
        if name not in self._items:
            self._load_entry_points()
        if name not in self._items:
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"unknown {self.name} {name!r}; known: {known}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def load_all(self) -> dict[str, T]:
        """Import every lazy module and return all components (contract suites use this)."""
        for name in list(self._lazy):
            self[name]
        return {n: self._items[n] for n in sorted(self._items)}

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for point in entry_points(group=self.group):
            if point.name not in self._items and point.name not in self._lazy:
                self._lazy[point.name] = point.value.split(":")[0]

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {self.names()})"
