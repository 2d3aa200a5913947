"""The corpora the toolkit knows: every module that declares itself, found at run time.

A corpus is one module. It declares

  CORPUS = CorpusInfo(name=..., labels=LABELS, db_variable="NAME", description="one line",
                      protocols=(...), default_protocol="...")

and defines three functions:

  add_arguments(parser)        adds the corpus's own options to an argparse parser; the `dest`
                               of each option is the keyword `prepare` takes;
  prepare(corpus_dir, out_dir, **options) -> DataDir
                               reads the corpus as distributed and writes a data dir (see
                               mer.data.corpora, `write_prepared`);
  write_fake(root) -> Path     writes a tiny fake copy of the corpus as distributed (the layout
                               `prepare` reads) under `root` and returns the dir to prepare;
                               deterministic, for tests;

and optionally `fake_options(corpus_dir) -> dict`, the `prepare` options its fake needs (MOSEI's
folds file). Modules are found two ways: the modules of this package (`mer/data/corpora/<name>.py`,
the module name being the corpus name; modules without CORPUS, such as `common`, are helpers),
and the entry-point group `mer.corpora` (`name = package.module`) for corpora in another package.
`python -m mer.bin.corpora list` shows what is registered; README.md ("Adding a corpus") has a
complete module.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Mapping

from mer.data.protocols import Protocol, ProtocolError

ENTRY_POINT_GROUP = "mer.corpora"
MARKER = "CORPUS"
FUNCTIONS = ("add_arguments", "prepare", "write_fake")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
SHELL_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


class CorpusInterfaceError(TypeError):
    """A corpus module does not declare what the registry needs."""


class UnknownCorpus(ValueError):
    """No registered corpus has that name."""


@dataclass(frozen=True)
class CorpusInfo:
    """What a corpus module declares about itself (its `CORPUS`)."""
    name: str                       # the corpus name on command lines (`emodb`)
    labels: tuple[str, ...]         # default label set, in the order models use for their classes
    db_variable: str                # its location variable in a recipe's db.sh (`EMODB`)
    description: str                # one line for db.sh: what it is, its licence, where to get it
    protocols: Iterable[Protocol]   # its evaluation protocols (mer.data.protocols)
    default_protocol: str           # the name of the one recipes use unless told otherwise
    default_dir: str = ""           # where db.sh points by default (`downloads/<name>`)
    by_name: Mapping[str, Protocol] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        protocols = tuple(self.protocols)
        object.__setattr__(self, "protocols", protocols)
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "by_name", {p.name: p for p in protocols})
        if not self.default_dir:
            object.__setattr__(self, "default_dir", f"downloads/{self.name}")
        problems = []
        if not NAME_RE.match(self.name):
            problems.append(f"name {self.name!r} is not lower-case letters, digits and _")
        if not SHELL_NAME_RE.match(self.db_variable):
            problems.append(f"db_variable {self.db_variable!r} is not an upper-case shell variable name")
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            problems.append(f"labels {self.labels} must be at least two distinct names")
        if not self.description.strip() or "\n" in self.description:
            problems.append("description must be one non-empty line")
        if not protocols or not all(isinstance(p, Protocol) for p in protocols):
            problems.append("protocols must be one or more mer.data.protocols.Protocol")
        elif len(self.by_name) != len(protocols):
            problems.append(f"protocol names repeat: {[p.name for p in protocols]}")
        elif self.default_protocol not in self.by_name:
            problems.append(f"default_protocol {self.default_protocol!r} is not one of {list(self.by_name)}")
        if any(c in self.default_dir for c in " '\"$`\\"):
            problems.append(f"default_dir {self.default_dir!r} has characters a shell line cannot keep")
        if problems:
            raise CorpusInterfaceError(f"CorpusInfo {self.name!r}: " + "; ".join(problems))


@dataclass(frozen=True)
class Corpus:
    """A registered corpus: its declaration and its module's functions."""
    info: CorpusInfo
    module: ModuleType

    name = property(lambda self: self.info.name)
    labels = property(lambda self: self.info.labels)
    db_variable = property(lambda self: self.info.db_variable)
    default_dir = property(lambda self: self.info.default_dir)
    description = property(lambda self: self.info.description)
    default_protocol = property(lambda self: self.info.default_protocol)
    protocols = property(lambda self: self.info.by_name)

    def protocol(self, name: str) -> Protocol:
        """The named protocol; `default` names the default."""
        name = self.default_protocol if name == "default" else name
        if name not in self.protocols:
            raise ProtocolError(f"no protocol '{name}' for {self.name}; known: {', '.join(self.protocols)}")
        return self.protocols[name]

    def add_arguments(self, parser: argparse.ArgumentParser | Any) -> None:
        self.module.add_arguments(parser)

    def prepare(self, corpus_dir: str | Path, out_dir: str | Path, **options):
        return self.module.prepare(Path(corpus_dir), Path(out_dir), **options)

    def write_fake(self, root: str | Path, **kwargs) -> Path:
        return Path(self.module.write_fake(Path(root), **kwargs))

    def fake_options(self, corpus_dir: str | Path) -> dict:
        """The `prepare` options the fake corpus at `corpus_dir` needs (usually none)."""
        hook: Callable[[Path], dict] | None = getattr(self.module, "fake_options", None)
        return dict(hook(Path(corpus_dir))) if hook else {}


def corpus_from_module(module: ModuleType, name: str | None = None) -> Corpus:
    """Check `module` against the interface; a CorpusInterfaceError names the module and what is missing."""
    where = f"corpus module {module.__name__}"
    info = getattr(module, MARKER, None)
    if info is None:
        raise CorpusInterfaceError(f"{where} has no {MARKER} (a mer.data.corpora.registry.CorpusInfo)")
    if not isinstance(info, CorpusInfo):
        raise CorpusInterfaceError(f"{where}: {MARKER} is a {type(info).__name__}, not a CorpusInfo")
    missing = [f for f in FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise CorpusInterfaceError(f"{where} lacks the function(s) {', '.join(missing)} "
                                   f"(a corpus module defines {', '.join(FUNCTIONS)})")
    if name is not None and info.name != name:
        raise CorpusInterfaceError(f"{where} is registered as {name!r} but its {MARKER}.name is {info.name!r}")
    return Corpus(info, module)


def _package_modules() -> list[ModuleType]:
    """The modules of this package that declare a corpus (helpers without CORPUS are skipped)."""
    package = importlib.import_module(__package__)
    out = []
    for m in pkgutil.iter_modules(package.__path__):
        if m.name.startswith("_") or m.name == "registry":
            continue
        module = importlib.import_module(f"{__package__}.{m.name}")
        if hasattr(module, MARKER):
            out.append(module)
    return out


@lru_cache(maxsize=None)
def _registry() -> dict[str, Corpus]:
    found: dict[str, Corpus] = {}
    for module in _package_modules():
        corpus = corpus_from_module(module, module.__name__.rsplit(".", 1)[-1])
        found[corpus.name] = corpus
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            if found[ep.name].module.__name__ == ep.value:
                continue
            raise CorpusInterfaceError(f"entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP}): the "
                                       f"name is taken by {found[ep.name].module.__name__}")
        module = ep.load()
        if not isinstance(module, ModuleType):
            raise CorpusInterfaceError(f"entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP}) must name a module")
        found[ep.name] = corpus_from_module(module, ep.name)
    variables: dict[str, str] = {}
    for corpus in found.values():
        other = variables.setdefault(corpus.db_variable, corpus.name)
        if other != corpus.name:
            raise CorpusInterfaceError(f"corpora {other} and {corpus.name} both use the db.sh variable "
                                       f"{corpus.db_variable}")
    return dict(sorted(found.items()))


def corpus_names() -> list[str]:
    """Every registered corpus name, sorted."""
    return list(_registry())


def get_corpus(name: str) -> Corpus:
    """The registered corpus `name`."""
    corpora = _registry()
    if name not in corpora:
        raise UnknownCorpus(f"unknown corpus '{name}'; known: {', '.join(corpora)} "
                            f"(a new corpus is a module: README.md, 'Adding a corpus')")
    return corpora[name]


def all_corpora() -> list[Corpus]:
    return list(_registry().values())


def clear_cache() -> None:
    """Forget what was found (after installing a package or changing sys.path)."""
    _registry.cache_clear()
