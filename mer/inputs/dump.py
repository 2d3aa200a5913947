"""`type: dump`: frames of a frozen encoder or a filterbank, dumped in stage 2 (feats.scp, ark)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from mer.data.datadir import DataDir
from mer.data.dump_table import DumpTable
from mer.data.kaldi_io import read_kv
from mer.inputs.base import AbsInput, InputInfo, register_input_type
from mer.inputs.cmvn import check_cmvn, check_typical_prob, with_cmvn


class FeatureDump:
    """Lazy access to one dump directory (`feats.scp`, `utt2num_frames`, `feats_info.json`)."""

    def __init__(self, path: str | Path, preload_max_mb: float = 2048):
        self.path = Path(path)
        scp = self.path / "feats.scp"
        if not scp.is_file():
            raise FileNotFoundError(f"{scp} not found: run the feature-dumping stage (stage 2) first")
        self.info = json.loads((self.path / "feats_info.json").read_text())
        self._table = DumpTable(self.path)  # arks inside the dump, checksums verified, errors named
        self.num_frames = {k: int(v) for k, v in read_kv(self.path / "utt2num_frames").items()}
        # Small dumps are read into memory once; large ones are read per access.
        size_mb = sum(p.stat().st_size for p in self.path.rglob("*.ark")) / 2**20
        self._cache: dict[str, np.ndarray] | None = {} if size_mb <= preload_max_mb else None

    @property
    def dim(self) -> int:
        return int(self.info["dim"])

    @property
    def num_layers(self) -> int:
        return int(self.info.get("num_layers_stored", 1))

    @property
    def hidden_states(self) -> list[int] | None:
        """The encoder hidden states stored, in order (None: not an encoder dump)."""
        layers = self.info.get("layers")
        return [int(k) for k in layers] if isinstance(layers, list) else None

    def positions_of(self, hidden_states: list[int], where: str) -> list[int]:
        """Where the encoder hidden states `hidden_states` sit among the layers stored (hidden state 4
        is position 1 of a dump of `layers: 3,4,5`). ValueError naming `where` for one not stored."""
        stored = self.hidden_states
        if stored is None:
            raise ValueError(f"{where}: {self.path} records no hidden-state indices (not an encoder dump); "
                             f"choose layers by position instead")
        missing = [k for k in hidden_states if k not in stored]
        if missing or not hidden_states:
            raise ValueError(f"{where}: hidden state(s) {missing or hidden_states} not stored; {self.path} holds "
                             f"hidden states {', '.join(map(str, stored))} (dump them with --layers)")
        return [stored.index(k) for k in hidden_states]

    def __contains__(self, utt: str) -> bool:
        return utt in self.num_frames

    def __getitem__(self, utt: str) -> np.ndarray:
        if self._cache is not None and utt in self._cache:
            return self._cache[utt]
        mat = np.array(self._table[utt], dtype=np.float32)  # a writable copy: torch wants one
        if self._cache is not None:
            self._cache[utt] = mat
        return mat


@register_input_type("dump")
class DumpInput(AbsInput):
    """Frames of a frozen encoder or a filterbank, dumped in stage 2. `layers` (last, or a list of
    positions among the stored layers) keeps only those, so that batches carry no unused layers;
    `hidden_states` names them by the encoder's hidden-state index instead (4 is position 1 of a
    dump of `layers: 3,4,5`), refusing one the dump does not hold."""

    description = ("frames of a frozen encoder or a filterbank from a stage-2 dump (keys: name, layers, "
                   "hidden_states, cmvn, cmvn_typical_prob)")
    spec_keys = frozenset({"name", "layers", "hidden_states", "cmvn", "cmvn_typical_prob"})

    def __init__(self, name: str, dump: FeatureDump, layers: str | list[int] | None = None,
                 hidden_states: int | list[int] | None = None):
        self.name, self.dump = name, dump
        stored = dump.num_layers
        if hidden_states is not None:
            if layers is not None:
                raise ValueError(f"inputs.{name}: give `layers` (positions) or `hidden_states`, not both")
            wanted = hidden_states if isinstance(hidden_states, list) else [hidden_states]
            if not all(isinstance(k, int) for k in wanted):
                raise ValueError(f"inputs.{name}.hidden_states must be integers, got {hidden_states!r}")
            layers = dump.positions_of(wanted, f"inputs.{name}.hidden_states")
        if layers is None:
            self.keep = None
        else:
            picked = [stored - 1] if layers == "last" else list(layers) if isinstance(layers, list) else None
            if picked is None or not picked or any(not isinstance(i, int) or not -stored <= i < stored
                                                   for i in picked):
                raise ValueError(f"inputs.{name}.layers must be 'last' or a list of positions among the "
                                 f"{stored} layer(s) stored in {dump.path}, got {layers!r}")
            d = dump.dim
            self.keep = np.concatenate([np.arange(d) + (i % stored) * d for i in picked])
        self.layers = layers
        self.info = InputInfo("dump", dim=dump.dim, num_layers=stored if self.keep is None else len(picked))

    @classmethod
    def check_spec(cls, name: str, spec: dict) -> None:
        if not spec.get("name"):
            raise ValueError(f"config: inputs.{name}: a dump input needs `name` (a folder under the dump dir)")
        if spec.get("cmvn") is not None:
            check_cmvn(f"inputs.{name}.cmvn", spec["cmvn"])
        check_typical_prob(name, spec)

    @classmethod
    def open(cls, name: str, spec: dict, dumpdir: Path, preload_max_mb: float):
        source = cls(name, FeatureDump(Path(dumpdir) / spec["name"], preload_max_mb), spec.get("layers"),
                     spec.get("hidden_states"))
        return with_cmvn(source, spec)

    def describe(self) -> dict:
        return {"type": "dump", "path": str(self.dump.path), **{k: self.dump.info.get(k) for k in
                ("feature", "model", "layers", "dim", "num_layers_stored") if k in self.dump.info},
                **({"layers_read": self.layers} if self.keep is not None else {})}

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        return [u for u in utts if u not in self.dump]

    def remedy(self, data_dir: str) -> str:
        return (f"dump them, or drop them with utils/fix_data_dir.sh --exclude {self.dump.path}/failed "
                f"{data_dir}")

    def length(self, data: DataDir, utt: str) -> int:
        return self.dump.num_frames[utt]

    def load(self, data: DataDir, utt: str) -> torch.Tensor:
        mat = self.dump[utt]
        return torch.from_numpy(mat if self.keep is None else np.ascontiguousarray(mat[:, self.keep]))
