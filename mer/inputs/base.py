"""What every input type shares: the registry of types, and what a model learns of an input.

An input type is a class registered with `@register_input_type(name)` in a module of this package
(found by scanning it, as models are): the keys its config entry may have (`spec_keys`), its own
checks of an entry (`check_spec`), and how an entry is opened (`open`). An opened input gives a
length per utterance (frames, samples or words: used for bucketing) and loads one utterance (a
tensor, or a string for text); `python -m mer.bin.list input` prints every type.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mer.data.datadir import DataDir
from mer.registry import new_registry, subclass_of


@dataclass
class InputInfo:
    """What a model needs to know of an input to build itself."""

    type: str
    dim: int | None = None        # dump: feature dimension of one layer
    num_layers: int = 1           # dump: layers stored side by side
    sample_rate: int | None = None  # waveform


class AbsInput:
    """One named input of a data dir. Subclasses set `name` and `info` when opened."""

    spec_keys: ClassVar[frozenset[str]] = frozenset()  # keys of a config entry besides `type`
    name: str
    info: InputInfo

    @classmethod
    def check_spec(cls, name: str, spec: dict) -> None:
        """Raise ValueError naming `inputs.<name>` for an entry this type cannot open."""

    @classmethod
    def open(cls, name: str, spec: dict, dumpdir: Path, preload_max_mb: float) -> "AbsInput":
        raise NotImplementedError

    def describe(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def remedy(self, data_dir: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def length(self, data: DataDir, utt: str) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self, data: DataDir, utt: str):  # pragma: no cover - abstract
        raise NotImplementedError


INPUT_TYPES = new_registry("input", package="mer.inputs", check=subclass_of(AbsInput, "input type"))


def register_input_type(name: str):
    """Class decorator: make `inputs.<name>: {type: NAME, ...}` open this class."""
    return INPUT_TYPES.register(name)
