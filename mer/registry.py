"""One registry mechanism for every kind of named, pluggable thing (models, combiners, metrics, ...).

A `Registry` is a read-only mapping name -> entry for one kind. Entries are added by a decorator
(`@MODELS.register("memocmt")`) in the modules of one package, which the registry imports itself the
first time it is read (a package scan, as ESPnet's class choices are one table per kind): adding a
model, a combiner or a metric is one new module in its folder, with no import list to edit. Modules
in other packages register under an entry-point group, as corpora do (`mer.corpora`).

Each entry has a one-line description (its own `description` or the first line of its docstring),
which `python -m mer.bin.list` prints.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
from collections.abc import Mapping
from typing import Any, Callable, Iterator


class RegistryError(ValueError):
    """An unknown name, a name registered twice, or an entry of the wrong type."""


def first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


class Registry(Mapping):
    """name -> entry for one kind of thing (`kind`, used in messages).

    package:      dotted name of the package whose modules are imported (once, on first read) so that
                  their decorators run; modules whose name starts with "_" are skipped.
    entry_points: an entry-point group whose modules are imported too (other packages' plug-ins).
    check:        called with (name, entry) at registration; raises to refuse an entry.
    """

    def __init__(self, kind: str, package: str | None = None, entry_points: str | None = None,
                 check: Callable[[str, Any], None] | None = None):
        self.kind, self.package, self.entry_points, self.check = kind, package, entry_points, check
        self._entries: dict[str, Any] = {}
        self._descriptions: dict[str, str] = {}
        self._loaded = False
        self._loading = False

    # ---------------------------------------------------------------- registering
    def register(self, name: str, entry: Any = None, *, description: str | None = None):
        """`@REG.register(name)` on a class or function, or `REG.register(name, entry)`."""
        def add(obj):
            old = self._entries.get(name)
            if old is not None and old is not obj and getattr(old, "__qualname__", None) != getattr(
                    obj, "__qualname__", object()):
                raise RegistryError(f"{self.kind} '{name}' is registered twice ({_where(old)} and {_where(obj)})")
            if self.check is not None:
                self.check(name, obj)
            self._entries[name] = obj
            self._descriptions[name] = description or _own_description(obj)
            return obj
        return add if entry is None else add(entry)

    # ---------------------------------------------------------------- loading
    def load(self) -> "Registry":
        """Import the package's modules and the entry points' modules (once)."""
        if self._loaded or self._loading:
            return self
        self._loading = True
        try:
            if self.package:
                pkg = importlib.import_module(self.package)
                for mod in pkgutil.iter_modules(pkg.__path__):
                    if not mod.name.startswith("_"):
                        importlib.import_module(f"{self.package}.{mod.name}")
            if self.entry_points:
                for ep in importlib.metadata.entry_points(group=self.entry_points):
                    try:
                        importlib.import_module(ep.value.split(":", 1)[0])
                    except Exception as e:  # a broken plug-in is named, not hidden
                        raise RegistryError(f"{self.kind} plug-in '{ep.name}' ({ep.value}, entry-point group "
                                            f"{self.entry_points}) cannot be imported: {e}") from e
            self._loaded = True
        finally:
            self._loading = False
        return self

    # ---------------------------------------------------------------- reading
    def get_entry(self, name: str, what: str | None = None) -> Any:
        """The entry, or a RegistryError listing the choices (`what` names the config key)."""
        self.load()
        if name not in self._entries:
            raise RegistryError(f"{what or self.kind} must be one of {', '.join(sorted(self._entries))}, "
                                f"got '{name}'")
        return self._entries[name]

    def description(self, name: str) -> str:
        self.load()
        return self._descriptions.get(name, "")

    def __getitem__(self, name: str) -> Any:
        self.load()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(self._entries)

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries)})"


def _own_description(obj) -> str:
    """An entry's `description`, else the first line of its own docstring (not one it inherits), else
    of its module's."""
    text = getattr(obj, "description", None)
    if not isinstance(text, str) or not text:
        text = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not text:
        text = getattr(inspect.getmodule(obj), "__doc__", None)
    return first_line(text)


def _where(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


# Every registry, by kind: what `python -m mer.bin.list` walks. Each registry module adds its own.
ALL: dict[str, Registry] = {}


def new_registry(kind: str, **kwargs) -> Registry:
    """A registry of `kind`, listed in ALL."""
    if kind in ALL:
        raise RegistryError(f"a registry of {kind}s exists already")
    ALL[kind] = reg = Registry(kind, **kwargs)
    return reg


def subclass_of(base: type, what: str) -> Callable[[str, Any], None]:
    """A registry `check` that refuses an entry which is not a subclass of `base` (`what`: the
    entry's kind in the message, e.g. "model")."""
    def check(name: str, cls) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise RegistryError(f"{what} '{name}': {getattr(cls, '__name__', cls)} must subclass {base.__name__}")
    return check
