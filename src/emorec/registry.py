"""One small registry mechanism for everything that varies.

Model architectures, face detectors, speech segmenters, feature transforms,
datasets and packaged models are each a :class:`Registry`: ``register`` a
factory under a name, ``get`` it back, ``list`` the names (optionally with a
glob pattern, as ``timm.list_models`` does). Third-party packages can add
entries through an entry-point group (``entry_point_group``), loaded the first
time the registry is read, so a plug-in needs no change in emorec.

Example:
    >>> from emorec.registry import Registry
    >>> shapes = Registry("shape")
    >>> @shapes.register("square")
    ... def make_square(side=1):
    ...     return ("square", side)
    >>> shapes.get("square")(side=2)
    ('square', 2)
    >>> shapes.list("sq*")
    ['square']
"""
from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from emorec.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` appears in error messages)."""

    def __init__(self, kind: str, *, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T] = {}
        self._plugins_loaded = entry_point_group is None
        self._lock = threading.Lock()

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T, *, replace: bool = ...) -> T: ...

    def register(self, name: str, entry: Any = None, *, replace: bool = False) -> Any:
        """Add ``entry`` under ``name``; without ``entry``, works as a decorator.

        Registering a name twice is refused unless ``replace=True``: two
        plug-ins silently shadowing each other is a bug worth hearing about.
        """
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")

        def add(value: T) -> T:
            with self._lock:
                if name in self._entries and not replace and self._entries[name] is not value:
                    raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True)")
                self._entries[name] = value
            return value

        if entry is None:
            return add
        return add(entry)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry for ``name``; an unknown name lists the known ones."""
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.list()) or "none"
            raise UsageError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def list(self, pattern: str | None = None) -> list[str]:
        """Registered names, sorted; ``pattern`` is a shell glob (``"yunet*"``)."""
        self._load_plugins()
        names = sorted(self._entries)
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def items(self) -> Iterator[tuple[str, T]]:
        self._load_plugins()
        yield from sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group or ""):
            try:
                value = ep.load()
            except Exception as exc:  # a broken plug-in must not break emorec itself
                import warnings

                warnings.warn(f"{self.kind} plug-in {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)
                continue
            if ep.name not in self._entries:
                self._entries[ep.name] = value
