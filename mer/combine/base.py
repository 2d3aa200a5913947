"""The combiner contract and what a combiner sees of one fold."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from mer.data.datadir import DataDir
from mer.scoring.decode_dir import DecodeOutputs, ScoringError, load_decode_dir, write_decode_dir
from mer.registry import new_registry, subclass_of


@dataclass
class FoldContext:
    fold_dir: Path        # data/<protocol>/fold<k>: train, valid, test, ...
    out_dir: Path         # exp/<protocol>/<name>/fold<k>: where this combiner writes decode_<set>/
    exp_root: Path        # exp/<protocol>: other systems' results
    dumpdir: Path
    test_sets: list[str]
    meta: dict = field(default_factory=dict)  # protocol, config, fold, corpus: recorded with results
    # config name -> its experiment dir under exp_root, where --train_args tagged it
    # (train_lstm_gate -> train_lstm_gate_train.epochs1); unlisted names are their own dir
    system_dirs: dict = field(default_factory=dict)

    def data(self, name: str) -> DataDir:
        return DataDir.load(self.fold_dir / name)

    def has_data(self, name: str) -> bool:
        """Whether the fold's data dir `name` exists (a combiner run on decode dirs alone has none)."""
        return (self.fold_dir / name / "utt2spk").is_file()

    def decode_dir(self, system: str, test_set: str) -> Path:
        """Another system's decode dir for this fold (its config tag under the exp root)."""
        d = self.exp_root / self.system_dirs.get(system, system) / self.fold_dir.name / f"decode_{test_set}"
        if not (d / "meta.json").is_file():
            raise FileNotFoundError(f"{d} is not complete (no meta.json): train and decode '{system}' first, "
                                    f"with '{test_set}' among the recipe's --test_sets")
        return d

    def load(self, system: str, test_set: str, ref: Path | None = None) -> DecodeOutputs:
        """Another system's outputs on `test_set` (every decoded utterance, scored or not)."""
        d = self.decode_dir(system, test_set)
        try:
            return load_decode_dir(d, ref=ref, need_posteriors=True, keep_out_of_set=True)
        except ScoringError as e:
            raise ValueError(str(e)) from e

    def write(self, test_set: str, utts: list[str], classes: list[str], posteriors: np.ndarray,
              refs: dict[str, str] | None, embeddings: np.ndarray | None = None, extras: dict | None = None,
              preds: list[str] | None = None, **meta) -> None:
        """`preds`: the decisions when they are not the arg-max of `posteriors`."""
        write_decode_dir(self.out_dir / f"decode_{test_set}", utts, classes, posteriors, embeddings,
                         refs=refs, extras=extras, preds=preds, meta={**self.meta, "test_set": test_set, **meta})


class AbsCombiner:
    """Subclasses take their settings as keyword arguments and write every test set of a fold."""

    name: ClassVar[str] = ""

    def run_fold(self, ctx: FoldContext) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def summarize(self, out_dir: Path, folds: list[str]) -> None:
        """After every fold: reports over all folds from what `run_fold` left in `out_dir`
        (`folds`: the fold dir names). Nothing by default."""


# Every module of mer.combine is imported on first use, so a new combiner is one new module there.
COMBINERS = new_registry("combiner", package="mer.combine", check=subclass_of(AbsCombiner, "combiner"))


def register_combiner(name: str):
    """Class decorator: make a combiner available to recipes as `combiner: {name: NAME, ...}`."""
    def add(cls: type[AbsCombiner]) -> type[AbsCombiner]:
        cls.name = name
        return COMBINERS.register(name, cls)
    return add
