"""The one registry idiom of hdrlift: :class:`Registry`, an explicit ordered list of named entries.

Architectures (:mod:`hdrlift.models.registry`), classical operators (:mod:`hdrlift.operators.registry`),
metrics (:mod:`hdrlift.metrics.registry`), evaluation protocols (:mod:`hdrlift.metrics.protocols`),
training recipes (:mod:`hdrlift.train.recipes`) and dataset kinds (:mod:`hdrlift.data.layouts`) are each
one ``Registry``: entries are listed in the module that owns them (no folder scan, no registration as an
import side effect), looked up with :meth:`Registry.get` (an unknown name is one line of the layer's
error class listing the available names) and listed with :meth:`Registry.names`. An entry list that
imports heavy modules is given as a function and read on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from hdrlift.errors import ConfigError, HdrliftError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries in the order they are listed.

    Args:
        what: the kind of entry, for messages (``"model"``, ``"operator"``, ``"dataset kind"``).
        entries: ``(name, entry)`` pairs, or a function returning them (called once, on first use).
        error: the :class:`~hdrlift.errors.HdrliftError` subclass of an unknown name (default ConfigError).
        hint: optional ``hint(name) -> str`` appended to the message of an unknown name (e.g. which
            optional package an entry needs).
    """

    def __init__(self, what: str, entries: Iterable[tuple[str, T]] | Callable[[], Iterable[tuple[str, T]]],
                 error: type[HdrliftError] = ConfigError, hint: Callable[[str], str] | None = None) -> None:
        self.what = what
        self.error = error
        self._hint = hint
        self._source = entries
        self._items: dict[str, T] | None = None
        if not callable(entries):
            self._items = self._build(entries)

    def _build(self, entries: Iterable[tuple[str, T]]) -> dict[str, T]:
        out: dict[str, T] = {}
        for name, entry in entries:
            if name in out:
                raise ValueError(f"{self.what} registry: duplicate name {name!r}")
            out[name] = entry
        return out

    def _loaded(self) -> dict[str, T]:
        if self._items is None:
            assert callable(self._source)
            self._items = self._build(self._source())
        return self._items

    def names(self) -> list[str]:
        """The names, in the listed order."""
        return list(self._loaded())

    def get(self, name: str) -> T:
        """The entry called ``name``; :attr:`error` ``unknown WHAT 'NAME'; available: ...`` otherwise."""
        items = self._loaded()
        if name not in items:
            hint = self._hint(name) if self._hint is not None else ""
            raise self.error(f"unknown {self.what} '{name}'{hint}; available: {', '.join(items)}")
        return items[name]

    def values(self) -> list[T]:
        """The entries, in the listed order."""
        return list(self._loaded().values())

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs, in the listed order."""
        return list(self._loaded().items())

    def add(self, name: str, entry: T, replace: bool = False) -> None:
        """Register ``entry`` as ``name`` at run time (after the listed entries); an existing name is a
        :attr:`error` unless ``replace``."""
        items = self._loaded()
        if name in items and not replace:
            raise self.error(f"{self.what} '{name}' is already registered")
        items[name] = entry

    def remove(self, name: str) -> T:
        """Unregister ``name`` and return its entry (:attr:`error` if unknown)."""
        entry = self.get(name)
        del self._loaded()[name]
        return entry

    def __getitem__(self, name: str) -> T:
        """Same as :meth:`get` (strict)."""
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        """The names, as iterating a dict does."""
        return iter(list(self._loaded()))

    def __len__(self) -> int:
        return len(self._loaded())
