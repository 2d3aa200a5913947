"""The inputs floor (mer/inputs/): input types come from their registry, and the floor imports no
model and no trainer (the caller says which inputs a model reads)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from mer.bin import list as list_cmd
from mer.inputs import (INPUT_TYPES, AbsInput, InputInfo, normalize_input_spec, open_input, open_inputs,
                        register_input_type)
from tests.helpers import REPO


class ConstantInput(AbsInput):
    """A test type: every utterance is `length` frames of `value`."""

    spec_keys = frozenset({"value", "length"})

    def __init__(self, name: str, value: float, length: int):
        self.name, self.value, self.length_ = name, value, length
        self.info = InputInfo("test_constant", dim=1)

    @classmethod
    def check_spec(cls, name: str, spec: dict) -> None:
        if "value" not in spec:
            raise ValueError(f"config: inputs.{name}: a constant needs `value`")

    @classmethod
    def open(cls, name, spec, dumpdir, preload_max_mb):
        return cls(name, float(spec["value"]), int(spec.get("length", 1)))

    def load(self, data, utt):
        return torch.full((self.length_, 1), self.value)


@pytest.fixture(scope="module")
def constant_type():
    if "test_constant" not in INPUT_TYPES:
        register_input_type("test_constant")(ConstantInput)
    return INPUT_TYPES["test_constant"]


def test_the_three_types_are_registered_and_listed(capsys):
    assert {"dump", "waveform", "text"} <= set(INPUT_TYPES)
    assert list_cmd.main(["input"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]}
    assert {"dump", "waveform", "text"} <= listed


def test_a_registered_type_is_checked_and_opened_through_the_registry(constant_type, tmp_path):
    assert normalize_input_spec("c", {"type": "test_constant", "value": 2}) == {"type": "test_constant", "value": 2}
    with pytest.raises(ValueError, match=r"inputs.c: unknown key\(s\) \['name'\].*allowed: \['length', 'type', 'value'\]"):
        normalize_input_spec("c", {"type": "test_constant", "value": 2, "name": "x"})
    with pytest.raises(ValueError, match="a constant needs `value`"):
        normalize_input_spec("c", {"type": "test_constant"})
    source = open_input("c", {"type": "test_constant", "value": 3, "length": 4}, tmp_path)
    assert isinstance(source, ConstantInput)
    assert source.load(None, "u").shape == (4, 1) and float(source.load(None, "u")[0, 0]) == 3.0


def test_an_unknown_type_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"inputs.a must be .* type one of .*dump.*got \{'type': 'video'\}"):
        normalize_input_spec("a", {"type": "video"})


def test_the_caller_names_the_inputs_and_an_undeclared_one_is_an_error(constant_type, tmp_path):
    conf = {"model": {"name": "some_model"}, "train": {"preload_max_mb": 1},
            "inputs": {"a": {"type": "test_constant", "value": 1}, "unused": {"type": "test_constant", "value": 5}}}
    assert list(open_inputs(conf, tmp_path, ["a"])) == ["a"]  # only what the model reads
    with pytest.raises(ValueError, match=r"model 'some_model' reads input\(s\) \['b'\] but `inputs:` declares "
                                         r"only \['a', 'unused'\]"):
        open_inputs(conf, tmp_path, ["a", "b"])


@pytest.mark.parametrize("module, forbidden", [
    ("mer.inputs", ("mer.models", "mer.train", "mer.inference", "mer.features")),
    ("mer.inference", ("mer.models", "mer.train")),  # the trainer imports it, not the other way round
])
def test_a_floor_imports_nothing_above_it(module, forbidden):
    code = (f"import sys, {module}\n"
            f"print(' '.join(sorted(m for m in sys.modules if m.startswith({forbidden!r}))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
