"""Checkpoints that can be loaded without running code.

A `.pt` file is a pickle: loaded with `weights_only=False` it may run anything its author put in it,
and an experiment folder received from someone else is a normal thing to resume or to start from.
So every checkpoint holds tensors and plain types only (dict, list, tuple, str, int, float, bool,
None) and is loaded with `weights_only=True`; the random-number states, which Python and NumPy
give as tuples holding NumPy arrays, are stored as plain types and tensors (`pack_rng`/`unpack_rng`).
Checkpoints written before that hold NumPy arrays and scalars: exactly the four NumPy names that
rebuild those are allowed too (OLD_FORMAT_GLOBALS), so an interrupted run still resumes.
"""
from __future__ import annotations

import pickle
import random
import re
from pathlib import Path

import numpy as np
import torch

from mer.utils.fileio import atomic_open


# What NumPy's random state (a uint32 array) and float64 scalars pickle as; none of them runs code.
OLD_FORMAT_GLOBALS = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, np._core.multiarray.scalar,
                      type(np.dtype(np.uint32)), type(np.dtype(np.float64))]


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely, or not at all; the message names the file."""


def plain(obj):
    """`obj` with NumPy scalars and arrays turned into Python numbers and lists (recursively), so
    that a metric value from NumPy cannot make a checkpoint unloadable with weights_only=True."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def pack_rng() -> dict:
    """The random-number states of Python, NumPy and torch, as tensors and plain types."""
    bit_gen = np.random.get_state(legacy=False)
    state = {"python": random.getstate(),
             "numpy": {"bit_generator": bit_gen["bit_generator"],
                       "key": torch.from_numpy(bit_gen["state"]["key"].astype(np.int64)),
                       "pos": int(bit_gen["state"]["pos"]), "has_gauss": int(bit_gen["has_gauss"]),
                       "gauss": float(bit_gen["gauss"])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def unpack_rng(state: dict) -> None:
    """Restore what pack_rng saved."""
    random.setstate(state["python"])
    n = state["numpy"]
    if isinstance(n, tuple):  # a checkpoint of the old format: NumPy's own legacy state
        n = {"bit_generator": n[0], "key": torch.from_numpy(n[1].astype(np.int64)), "pos": n[2],
             "has_gauss": n[3], "gauss": n[4]}
    np.random.set_state({"bit_generator": n["bit_generator"],
                         "state": {"key": n["key"].cpu().numpy().astype(np.uint32), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(obj: dict, path: str | Path) -> None:
    """Write atomically, NumPy values as plain ones, so that weights_only=True loads it back."""
    with atomic_open(path, "wb") as f:
        torch.save(plain(obj), f)


def load_checkpoint(path, map_location="cpu", purpose: str = "", remedy: str = "", name: str | None = None) -> dict:
    """Load `path` (a file name, or a file object called `name` in messages) with weights_only=True.
    A file that holds other objects (code, foreign classes) is refused, naming it, and nothing in it
    runs; so is a truncated or non-checkpoint file."""
    name = name or str(path)
    try:
        with torch.serialization.safe_globals(OLD_FORMAT_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)|but got <class '([^']+)'>", str(e))
        what = f"it refers to {found.group(1) or found.group(2)}" if found else "it holds other objects"
        raise CheckpointError(f"{name}: refused: a checkpoint holds tensors and plain values only, but {what}, "
                              f"which loading could run as code; nothing in it was run. Use a checkpoint "
                              f"written by mer.bin.train{'; ' + remedy if remedy else ''}") from None
    except Exception as e:  # noqa: BLE001 - truncated, not a torch file, unreadable: name the file
        raise CheckpointError(f"{name}: cannot be read{' to ' + purpose if purpose else ''} "
                              f"({e.__class__.__name__}: {e})"
                              f"{'; ' + remedy if remedy else ''}") from None
