"""Name -> object registries filled by decorators.

Every kind of pluggable thing (datasets, networks, losses, model families, ...) has one registry, so adding
one is a single decorated function or class and no code branches on names (as torch-fidelity's
``registry.py`` and stylegan2-ada's ``register_metric`` do). Duplicates are rejected at import time and an
optional base class is checked.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import GanforgeError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to registered objects of one kind.

    Args:
        kind: what the entries are, used in messages ("dataset", "loss", ...).
        base: if given, registered classes must be subclasses of it.
    """

    def __init__(self, kind: str, base: type | None = None) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a duplicate name is a programming error."""

        def decorate(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
                raise TypeError(f"{self.kind} {name!r} must be a subclass of {self.base.__name__}")
            self._entries[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """The entry called ``name``; an unknown name is a user error listing the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise GanforgeError(f"unknown {self.kind} {name!r} (expected one of: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def import_submodules(package: str, path: list[str]) -> None:
    """Import every module of a package so their decorators fill its registry (one new file = one entry)."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
